/**
 * @module cli/prompt
 * Questions a command asks its user. On a terminal, the question goes to stderr and a secret is typed without echo;
 * when standard input is not a terminal (a pipe, a test, a script), each answer is the next line of it.
 */
import { createInterface, type Interface } from 'node:readline';
import { createInterface as createPromptInterface } from 'node:readline/promises';

export class Prompter {
  #reader: Interface | undefined;
  #lines: AsyncIterator<string> | undefined;

  constructor(
    private readonly input: NodeJS.ReadStream = process.stdin,
    private readonly output: NodeJS.WritableStream = process.stderr,
  ) {}

  get interactive(): boolean {
    return this.input.isTTY === true;
  }

  /** A secret (a password): typed without echo on a terminal. */
  async secret(question: string): Promise<string> {
    return this.interactive ? this.#hidden(question) : this.#nextLine(question);
  }

  /** An answer that may be seen (a one-time code). */
  async answer(question: string): Promise<string> {
    if (!this.interactive) return this.#nextLine(question);
    const terminal = createPromptInterface({ input: this.input, output: this.output, terminal: true });
    try {
      return (await terminal.question(question)).trim();
    } finally {
      terminal.close();
    }
  }

  /** Lets standard input go, so the process can end. */
  close(): void {
    this.#reader?.close();
  }

  async #nextLine(question: string): Promise<string> {
    this.output.write(`${question}\n`);
    this.#reader ??= createInterface({ input: this.input, crlfDelay: Number.POSITIVE_INFINITY });
    this.#lines ??= this.#reader[Symbol.asyncIterator]();
    const next = await this.#lines.next();
    if (next.done === true)
      throw new Error(`standard input ended before the answer to "${question.replace(/:\s*$/, '')}"`);
    return next.value;
  }

  /** Reads a line from the terminal in raw mode, echoing nothing; Ctrl-C cancels. */
  #hidden(question: string): Promise<string> {
    const { input, output } = this;
    output.write(question);
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.resume();
    return new Promise((resolve, reject) => {
      let value = '';
      const finish = () => {
        input.off('data', onData);
        input.setRawMode(false);
        input.pause();
        output.write('\n');
      };
      const onData = (chunk: string) => {
        for (const char of chunk) {
          if (char === '\r' || char === '\n' || char === '\u0004') {
            finish();
            resolve(value);
            return;
          }
          if (char === '\u0003') {
            finish();
            reject(new Error('cancelled'));
            return;
          }
          if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
          else if (char >= ' ') value += char;
        }
      };
      input.on('data', onData);
    });
  }
}
