import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The portal is served by the gateway on its own port (one origin); `vite build` writes the static assets.
export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: {
      '@gatehouse/protocol': fileURLToPath(new URL('../protocol/src/index.ts', import.meta.url)),
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // No inline scripts or styles: the gateway serves the page under a strict Content-Security-Policy.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: {
      '/v1': { target: 'http://localhost:8080', ws: true },
      '/oauth2': 'http://localhost:8080',
    },
  },
});
