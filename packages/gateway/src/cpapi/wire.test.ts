/**
 * The CPAPI wire shapes hold IBKR's own examples (campus documentation and ibind's anonymised captures, retyped)
 * and refuse a mutation of each: a string where IBKR sends a number or the reverse, or a missing required field.
 */
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import * as wire from './wire/index.js';

const serverInfo = { serverName: 'JifC11113', serverVersion: 'Build 10.25.0m, Nov 17, 2023 11:29:27 AM' };
const authStatus = {
  MAC: 'F4:03:43:CD:BD:C0',
  authenticated: true,
  competing: false,
  connected: true,
  fail: '',
  hardware_info: '1c4558e8|F4:03:43:CD:BD:C0',
  message: '',
  serverInfo,
};
const account = {
  'PrepaidCrypto-P': false,
  'PrepaidCrypto-Z': false,
  accountAlias: null,
  accountId: 'DU1234567',
  accountStatus: 1678852800000,
  accountTitle: 'Test Account',
  accountVan: 'DU1234567',
  brokerageAccess: true,
  businessType: 'INDEPENDENT',
  clearingStatus: 'O',
  covestor: false,
  currency: 'USD',
  desc: 'DU1234567',
  displayName: 'Test Account',
  faclient: false,
  ibEntity: 'IBLLC-US',
  id: 'DU1234567',
  noClientTrading: false,
  parent: { accountId: '', isMChild: false, isMParent: false, isMultiplex: false, mmc: [] },
  trackVirtualFXPortfolio: false,
  tradingType: 'STKNOPT',
  type: 'DEMO',
};
const ledgerBase = {
  acctcode: 'DU1234567',
  cashbalance: 985376.94,
  cashbalancefxsegment: 0,
  commoditymarketvalue: 0,
  corporatebondsmarketvalue: 0,
  cryptocurrencyvalue: 0,
  currency: 'BASE',
  dividends: 0,
  exchangerate: 1,
  funds: 0,
  futuremarketvalue: 0,
  futureoptionmarketvalue: 0,
  futuresonlypnl: 0,
  interest: 3401.28,
  issueroptionsmarketvalue: 0,
  key: 'LedgerList',
  moneyfunds: 0,
  netliquidationvalue: 1034222.25,
  realizedpnl: 0,
  secondkey: 'BASE',
  sessionid: 1,
  settledcash: 985376.94,
  severity: 0,
  stockmarketvalue: 45444,
  stockoptionmarketvalue: 0,
  tbillsmarketvalue: 0,
  tbondsmarketvalue: 0,
  timestamp: 1701198108,
  unrealizedpnl: 1701,
  warrantsmarketvalue: 0,
};
const contract = {
  conid: 756733,
  currency: 'USD',
  assetClass: 'STK',
  name: 'SPDR S&P 500 ETF TRUST',
  ticker: 'SPY',
  fullName: 'SPY',
  listingExchange: 'ARCA',
  allExchanges: 'AMEX,NYSE,CBOE,ARCA,ISLAND',
  countryCode: 'US',
  chineseName: null,
  expiry: null,
  lastTradingDay: null,
  putOrCall: null,
  strike: '0',
  multiplier: 0,
  undConid: 0,
  group: null,
  sector: null,
  sectorGroup: null,
  type: 'ETF',
  hasOptions: true,
  isUS: true,
  isEventContract: false,
  incrementRules: [{ increment: 0.01, lowerEdge: 0 }],
  displayRule: { displayRuleStep: [{ decimalDigits: 2, lowerEdge: 0, wholeDigits: 4 }], magnification: 0 },
};
const position = {
  ...contract,
  acctId: 'DU1234567',
  avgCost: 437.43,
  avgPrice: 437.43,
  conExchMap: [],
  contractDesc: 'SPY',
  exchs: null,
  exerciseStyle: null,
  mktPrice: 454.44000245,
  mktValue: 45444,
  model: '',
  pageSize: 100,
  position: 100,
  realizedPnl: 0,
  time: 30,
  unrealizedPnl: 1701,
};
const liveOrder = {
  account: 'DU1234567',
  acct: 'DU1234567',
  bgColor: '#FFFFFF',
  cashCcy: 'USD',
  companyName: 'SPDR S&P 500 ETF TRUST',
  conid: 756733,
  conidex: '756733',
  description1: 'SPY',
  fgColor: '#0000CC',
  filledQuantity: 0,
  lastExecutionTime: '240103201041',
  lastExecutionTime_r: 1704312641000,
  listingExchange: 'ARCA',
  orderDesc: 'Buy 1 Limit 457.00, GTC',
  orderId: 1210386759,
  orderType: 'Limit',
  order_ccp_status: 'Submitted',
  order_ref: '240103-SPY-1-BUY-L@457-bxv8',
  origOrderType: 'LIMIT',
  outsideRTH: false,
  price: '457.00',
  remainingQuantity: 1,
  secType: 'STK',
  side: 'BUY',
  sizeAndFills: '0/1',
  status: 'PreSubmitted',
  supportsTaxOpt: '1',
  ticker: 'SPY',
  timeInForce: 'GTC',
  totalSize: 1,
};
const trade = {
  execution_id: '0000e0d5.6576fd38.01.01',
  symbol: 'AAPL',
  supports_tax_opt: '1',
  side: 'S',
  order_description: 'Sold 5 @ 192.26 on ISLAND',
  trade_time: '20231211-18:00:49',
  trade_time_r: 1702317649000,
  size: 5,
  price: '192.26',
  order_ref: 'Order123',
  submitter: 'user1234',
  exchange: 'ISLAND',
  commission: '1.01',
  net_amount: 961.3,
  account: 'U1234567',
  accountCode: 'U1234567',
  company_name: 'APPLE INC',
  contract_description_1: 'AAPL',
  sec_type: 'STK',
  listing_exchange: 'NASDAQ.NMS',
  conid: '265598',
  conidEx: '265598',
  clearing_id: 'IB',
  clearing_name: 'IB',
  liquidation_trade: '0',
  is_event_trading: '0',
};

/** Each case: a schema, IBKR's example, and mutations the schema must refuse. */
// biome-ignore lint/suspicious/noExplicitAny: each mutation reaches into its own example's shape
const cases: [string, z.ZodType, unknown, ((v: any) => unknown)[]][] = [
  [
    'error body',
    wire.errorBodySchema,
    { error: 'Bad Request: no bridge', statusCode: 400 },
    [(v) => ({ ...v, statusCode: '400' }), () => ({ statusCode: 400 })],
  ],
  [
    'tickle',
    wire.tickleResponseSchema,
    {
      collission: false,
      hmds: { error: 'no bridge' },
      iserver: { authStatus },
      session: 'ce109cbeb462a76dc3f6f4182c830cc1',
      ssoExpires: 585695,
      userId: 99996016,
    },
    [
      (v) => ({ ...v, ssoExpires: '585695' }),
      (v) => ({ ...v, userId: '99996016' }),
      ({ collission: _c, ...v }) => v,
      (v) => ({ ...v, iserver: { authStatus: { ...authStatus, authenticated: 'true' } } }),
    ],
  ],
  [
    'auth status',
    wire.authStatusResponseSchema,
    authStatus,
    [({ MAC: _m, ...v }) => v, (v) => ({ ...v, competing: 0 })],
  ],
  [
    'auth status, logged out',
    wire.authStatusResponseSchema,
    { authenticated: false, competing: false, connected: false, MAC: '98:B2:C3:45:DE:F6' },
    [({ connected: _c, ...v }) => v],
  ],
  [
    'ssodh/init body',
    wire.ssodhInitBodySchema,
    { publish: true, compete: true },
    [(v) => ({ ...v, publish: 'true' }), ({ compete: _c, ...v }) => v],
  ],
  [
    'ssodh/init answer',
    wire.ssodhInitResponseSchema,
    { ...authStatus, established: true },
    [(v) => ({ ...v, established: 1 })],
  ],
  [
    'reauthenticate',
    wire.reauthenticateResponseSchema,
    { message: 'triggered' },
    [() => ({ message: true })],
  ],
  [
    'sso/validate',
    wire.ssoValidateResponseSchema,
    {
      USER_ID: 123456789,
      USER_NAME: 'user1234',
      RESULT: true,
      AUTH_TIME: 1702580846836,
      SF_ENABLED: false,
      IS_FREE_TRIAL: false,
      CREDENTIAL: 'user1234',
      IP: '12.345.678.901',
      EXPIRES: 415890,
      QUALIFIED_FOR_MOBILE_AUTH: null,
      LANDING_APP: 'UNIVERSAL',
      IS_MASTER: false,
      lastAccessed: 1702581069652,
      LOGIN_TYPE: 2,
      PAPER_USER_NAME: 'user1234',
      features: {
        env: 'PROD',
        wlms: true,
        realtime: true,
        bond: true,
        optionChains: true,
        calendar: true,
        newMf: true,
      },
      region: 'NJ',
    },
    [(v) => ({ ...v, USER_ID: '123456789' }), ({ RESULT: _r, ...v }) => v],
  ],
  ['logout', wire.logoutResponseSchema, { status: true }, [() => ({ status: 'true' })]],
  [
    'iserver/accounts',
    wire.iserverAccountsResponseSchema,
    {
      accounts: ['U1234567'],
      acctProps: {
        U1234567: {
          hasChildAccounts: false,
          supportsCashQty: true,
          noFXConv: false,
          isProp: false,
          supportsFractions: true,
          allowCustomerTime: false,
        },
      },
      aliases: { U1234567: 'U1234567' },
      allowFeatures: {
        showGFIS: true,
        allowFXConv: true,
        snapshotRefreshTimeout: 30,
        liteUser: false,
        allowCrypto: false,
        allowedAssetTypes: 'STK,CRYPTO',
      },
      chartPeriods: { STK: ['*'] },
      groups: [],
      profiles: [],
      selectedAccount: 'U1234567',
      serverInfo,
      sessionId: '1234a5b.12345678',
      isFT: false,
      isPaper: false,
    },
    [({ selectedAccount: _s, ...v }) => v, (v) => ({ ...v, accounts: 'U1234567' })],
  ],
  ['account switch body', wire.switchAccountBodySchema, { acctId: 'U1234567' }, [() => ({})]],
  [
    'account switch answer',
    wire.switchAccountResponseSchema,
    { set: true, acctId: 'U1234567' },
    [() => ({ set: 'true', acctId: 'U1234567' })],
  ],
  [
    'portfolio/accounts',
    wire.portfolioAccountsResponseSchema,
    [account],
    [([a]) => [{ ...a, accountStatus: '1678852800000' }], ([{ id: _i, ...a }]) => [a]],
  ],
  ['portfolio/{acct}/meta', wire.portfolioMetaResponseSchema, account, [(v) => ({ ...v, accountAlias: 5 })]],
  [
    'portfolio/{acct}/summary',
    wire.portfolioSummaryResponseSchema,
    {
      accountcode: {
        amount: 0,
        currency: null,
        isNull: false,
        timestamp: 1702582422000,
        value: 'U1234567',
        severity: 0,
      },
      netliquidation: {
        amount: 1034222.25,
        currency: 'USD',
        isNull: false,
        timestamp: 1702582422000,
        value: null,
        severity: 0,
      },
    },
    [
      (v) => ({ ...v, netliquidation: { ...v.netliquidation, amount: '1034222.25' } }),
      (v) => ({ accountcode: { ...v.accountcode, isNull: undefined } }),
    ],
  ],
  [
    'portfolio/{acct}/ledger',
    wire.ledgerResponseSchema,
    { BASE: ledgerBase, USD: { ...ledgerBase, currency: 'USD', secondkey: 'USD', endofbundle: 1 } },
    [
      (v) => ({ BASE: { ...v.BASE, cashbalance: '985376.94' } }),
      ({ BASE: { acctcode: _a, ...b } }) => ({ BASE: b }),
    ],
  ],
  [
    'positions',
    wire.positionsResponseSchema,
    [position],
    [([p]) => [{ ...p, conid: '756733' }], ([p]) => [{ ...p, strike: 0 }]],
  ],
  ['position/{conid}', wire.positionByConidResponseSchema, [position], [([{ position: _p, ...p }]) => [p]]],
  [
    'pnl/partitioned',
    wire.pnlPartitionedResponseSchema,
    {
      upnl: {
        'U1234567.Core': {
          rowType: 1,
          dpl: -57520.0,
          nl: 1034222.25,
          upl: 1701.0,
          el: 990000.5,
          mv: 45444.0,
        },
      },
    },
    [(v) => ({ upnl: { 'U1234567.Core': { ...v.upnl['U1234567.Core'], dpl: '-57520' } } })],
  ],
  [
    'trsrv/stocks',
    wire.trsrvStocksResponseSchema,
    {
      AAPL: [
        {
          assetClass: 'STK',
          chineseName: '&#x82F9;&#x679C;&#x516C;&#x53F8;',
          contracts: [
            { conid: 265598, exchange: 'NASDAQ', isUS: true },
            { conid: 38708077, exchange: 'MEXI', isUS: false },
          ],
          name: 'APPLE INC',
        },
      ],
    },
    [(v) => ({ AAPL: [{ ...v.AAPL[0], contracts: [{ conid: '265598', exchange: 'NASDAQ', isUS: true }] }] })],
  ],
  [
    'trsrv/secdef',
    wire.trsrvSecdefResponseSchema,
    { secdef: [contract] },
    [() => ({ secdef: [{ ...contract, undConid: '0' }] }), () => ({})],
  ],
  [
    'secdef/search body',
    wire.secdefSearchBodySchema,
    { symbol: 'AAPL', name: false, secType: 'STK' },
    [() => ({ name: true }), () => ({ symbol: 'AAPL', secType: 'CASH' })],
  ],
  [
    'secdef/search',
    wire.secdefSearchResponseSchema,
    [
      {
        conid: '265598',
        companyHeader: 'APPLE INC - NASDAQ',
        companyName: 'APPLE INC',
        symbol: 'AAPL',
        description: 'NASDAQ',
        restricted: null,
        fop: null,
        opt: '20240119;20240216',
        war: '20240119',
        sections: [
          { secType: 'STK' },
          { secType: 'OPT', months: 'JAN24;FEB24', exchange: 'SMART;AMEX;CBOE' },
        ],
      },
    ],
    [([h]) => [{ ...h, conid: 265598 }], ([{ sections: _s, ...h }]) => [h]],
  ],
  [
    'secdef/info',
    wire.secdefInfoResponseSchema,
    [
      {
        conid: 667883014,
        ticker: 'AAPL',
        secType: 'OPT',
        listingExchange: 'SMART',
        exchange: 'SMART',
        companyName: 'APPLE INC',
        currency: 'USD',
        validExchanges: 'SMART,AMEX,CBOE',
        priceRendering: null,
        maturityDate: '20240119',
        right: 'C',
        strike: 190,
      },
    ],
    [([i]) => [{ ...i, strike: '190' }], ([i]) => [{ ...i, conid: '667883014' }]],
  ],
  [
    'contract/{conid}/info',
    wire.contractInfoResponseSchema,
    {
      cfi_code: '',
      symbol: 'AAPL',
      cusip: null,
      expiry_full: null,
      con_id: 265598,
      maturity_date: null,
      industry: 'Technology',
      instrument_type: 'STK',
      trading_class: 'NMS',
      valid_exchanges: 'SMART,AMEX,NYSE',
      allow_sell_long: false,
      is_zero_commission_security: false,
      local_symbol: 'AAPL',
      contract_clarification_type: null,
      classifier: null,
      currency: 'USD',
      text: null,
      underlying_con_id: 0,
      r_t_h: true,
      multiplier: null,
      underlying_issuer: null,
      contract_month: null,
      company_name: 'APPLE INC',
      smart_available: true,
      exchange: 'SMART',
      category: 'Computers',
    },
    [(v) => ({ ...v, con_id: '265598' }), (v) => ({ ...v, r_t_h: 'true' })],
  ],
  [
    'snapshot query',
    wire.snapshotQuerySchema,
    { conids: '265598,8314', fields: '31,84,86' },
    [() => ({ conids: 'AAPL' })],
  ],
  [
    'snapshot',
    wire.snapshotResponseSchema,
    [
      {
        _updated: 1702334859712,
        conidEx: '265598',
        conid: 265598,
        server_id: 'q1',
        '6119': 'serverId',
        '31': '193.18',
        '84': '193.06',
        '86': '193.14',
        '6509': 'RpB',
      },
    ],
    [
      ([s]) => [{ ...s, '31': 193.18 }],
      ([s]) => [{ ...s, conid: '265598' }],
      ([{ _updated: _u, ...s }]) => [s],
    ],
  ],
  [
    'snapshot, pre-flight',
    wire.snapshotResponseSchema,
    [{ _updated: 1702334859712, conidEx: '265598', conid: 265598 }],
    [([s]) => [{ ...s, conidEx: 265598 }]],
  ],
  [
    'history query',
    wire.historyQuerySchema,
    { conid: '265598', period: '1d', bar: '1min', outsideRth: 'false' },
    [() => ({ conid: '265598', bar: '1min' })],
  ],
  [
    'history',
    wire.historyResponseSchema,
    {
      barLength: 2678400,
      chartAnnotations: 'x/D 0.24/1440;',
      data: [{ c: 189.37, h: 192.93, l: 170.12, o: 171.05, t: 1698796800000, v: 6942998.04 }],
      high: '19293/6942998.04/1440',
      low: '17012/6942998.04/1440',
      mdAvailability: 'S',
      messageVersion: 2,
      mktDataDelay: 0,
      negativeCapable: false,
      outsideRth: false,
      points: 0,
      priceDisplayRule: 1,
      priceDisplayValue: '2',
      priceFactor: 100,
      serverId: '195436',
      startTime: '20231031-00:00:00',
      symbol: 'AAPL',
      text: 'APPLE INC',
      timePeriod: '1m',
      travelTime: 3,
      volumeFactor: 1,
    },
    [
      (v) => ({ ...v, data: [{ ...v.data[0], c: '189.37' }] }),
      (v) => ({ ...v, serverId: 195436 }),
      ({ data: _d, ...v }) => v,
    ],
  ],
  ['unsubscribe body', wire.unsubscribeBodySchema, { conid: 265598 }, [() => ({ conid: '265598' })]],
  ['unsubscribe answer', wire.unsubscribeResponseSchema, { success: true }, [() => ({})]],
  [
    'place body',
    wire.placeOrdersBodySchema,
    {
      orders: [
        {
          acctId: 'DU1234567',
          conid: 265598,
          cOID: 'bot-0001',
          orderType: 'LMT',
          listingExchange: 'SMART',
          outsideRTH: false,
          price: 150,
          side: 'BUY',
          ticker: 'AAPL',
          tif: 'DAY',
          quantity: 5,
          useAdaptive: false,
          isCcyConv: false,
        },
      ],
    },
    [
      (v) => ({ orders: [{ ...v.orders[0], conid: '265598' }] }),
      (v) => ({ orders: [{ ...v.orders[0], price: '150' }] }),
      () => ({ orders: [] }),
      (v) => v.orders[0],
    ],
  ],
  [
    'place answer: question',
    wire.placeOrdersResponseSchema,
    [
      {
        id: '07a13a5a-4a48-44a5-bb25-5ab37b79186c',
        message: [wire.priceConstraintQuestion('BUY 5 AAPL NASDAQ.NMS @ 150.0', 3)],
        isSuppressed: false,
        messageIds: ['o163'],
      },
    ],
    [([q]) => [{ ...q, message: q.message[0] }], ([{ messageIds: _m, ...q }]) => [q]],
  ],
  [
    'place answer: acknowledgement',
    wire.placeOrdersResponseSchema,
    [{ order_id: '1234567890', order_status: 'Submitted', encrypt_message: '1' }],
    [([a]) => [{ ...a, order_id: 1234567890 }]],
  ],
  [
    'modify body',
    wire.modifyOrderBodySchema,
    {
      acctId: 'DU1234567',
      conid: 265598,
      orderType: 'LMT',
      price: 151,
      side: 'BUY',
      tif: 'DAY',
      quantity: 5,
    },
    [(v) => ({ orders: [v] }), (v) => ({ ...v, quantity: '5' })],
  ],
  [
    'modify answer',
    wire.modifyOrderResponseSchema,
    [{ order_id: '1234567890', local_order_id: 'bot-0001', order_status: 'Submitted' }],
    [([a]) => [{ ...a, order_status: undefined }]],
  ],
  ['reply body', wire.replyBodySchema, { confirmed: true }, [() => ({ confirmed: 'true' })]],
  [
    'suppress body',
    wire.suppressBodySchema,
    { messageIds: ['o163', 'o354'] },
    [() => ({ messageIds: 'o163' })],
  ],
  ['suppress answer', wire.suppressResponseSchema, { status: 'submitted' }, [() => ({ status: true })]],
  [
    'whatif',
    wire.whatIfResponseSchema,
    {
      amount: { amount: '961.30 USD', commission: '1.01 USD', total: '962.31 USD' },
      equity: { current: '1,034,222', change: '-1', after: '1,034,221' },
      initial: { current: '9,088', change: '240', after: '9,328' },
      maintenance: { current: '9,088', change: '240', after: '9,328' },
      position: { current: '0', change: '5', after: '5' },
      warn: null,
      error: null,
    },
    [(v) => ({ ...v, amount: { ...v.amount, total: 962.31 } }), ({ equity: _e, ...v }) => v],
  ],
  [
    'live orders',
    wire.liveOrdersResponseSchema,
    { orders: [liveOrder], snapshot: true },
    [
      (v) => ({ ...v, orders: [{ ...liveOrder, orderId: '1210386759' }] }),
      (v) => ({ ...v, orders: [{ ...liveOrder, price: 457 }] }),
      ({ snapshot: _s, ...v }) => v,
    ],
  ],
  [
    'order status',
    wire.orderStatusResponseSchema,
    {
      account: 'DU1234567',
      alert_active: 1,
      allowed_duplicate_opposite: true,
      available_chart_periods: '#R|1',
      bg_color: '#0000CC',
      cannot_cancel_order: false,
      child_order_type: '3',
      company_name: 'SPDR S&P 500 ETF TRUST',
      conid: 756733,
      conidex: '756733',
      contract_description_1: 'SPY',
      cum_fill: '0.0',
      currency: 'USD',
      deactivate_order: false,
      editable_fields: '\x1e',
      exit_strategy_chart_description: 'Buy 1 Limit 457.00, GTC',
      exit_strategy_display_price: '457.00',
      exit_strategy_tool_availability: '1',
      fg_color: '#FFFFFF',
      limit_price: '457.00',
      listing_exchange: 'ARCA',
      option_acct: 'c',
      order_ccp_status: '0',
      order_clearing_account: 'DU1234567',
      order_description: 'Buy 1 Limit 457.00, GTC',
      order_description_with_contract: 'Buy 1 SPY Limit 457.00, GTC',
      order_id: 1210386759,
      order_not_editable: false,
      order_status: 'PreSubmitted',
      order_status_description: 'Order Submitted',
      order_time: '240103201041',
      order_type: 'LIMIT',
      outside_rth: false,
      request_id: '37888',
      sec_type: 'STK',
      server_id: '0',
      side: 'B',
      size: '1.0',
      size_and_fills: '0/1',
      sub_type: null,
      symbol: 'SPY',
      tif: 'GTC',
      total_size: '1.0',
      use_price_mgmt_algo: false,
    },
    [
      (v) => ({ ...v, size: 1 }),
      (v) => ({ ...v, order_id: '1210386759' }),
      ({ order_status: _o, ...v }) => v,
    ],
  ],
  [
    'cancel answer',
    wire.cancelOrderResponseSchema,
    { msg: 'Request was submitted', order_id: '1234567890', conid: '265598', account: 'U1234567' },
    [({ msg: _m, ...v }) => v, (v) => ({ ...v, account: 1 })],
  ],
  [
    'trades',
    wire.tradesResponseSchema,
    [trade],
    [([t]) => [{ ...t, size: '5' }], ([t]) => [{ ...t, price: 192.26 }]],
  ],
  [
    'ws system greeting',
    wire.systemGreetingFrameSchema,
    { topic: 'system', success: 'user1234', isFT: false, isPaper: true },
    [(v) => ({ ...v, isPaper: 'true' })],
  ],
  [
    'ws heartbeat',
    wire.heartbeatFrameSchema,
    { topic: 'system', hb: 1702334859712 },
    [() => ({ topic: 'system', hb: '1702334859712' })],
  ],
  [
    'ws sts',
    wire.stsFrameSchema,
    {
      topic: 'sts',
      args: {
        authenticated: true,
        competing: false,
        connected: true,
        message: '',
        fail: '',
        serverName: 'JifC11113',
        serverVersion: 'Build 10.25.0m',
        username: 'user1234',
      },
    },
    [() => ({ topic: 'sts', args: {} })],
  ],
  [
    'ws act',
    wire.actFrameSchema,
    { topic: 'act', args: { accounts: ['DU1234567'], selectedAccount: 'DU1234567', isPaper: true } },
    [() => ({ topic: 'act', args: { accounts: 'DU1234567' } })],
  ],
  [
    'ws tic',
    wire.ticFrameSchema,
    { topic: 'tic', alive: true, id: 'ce109cbeb462a76dc3f6f4182c830cc1', lastAccessed: 1702334859712 },
    [(v) => ({ ...v, lastAccessed: '1702334859712' })],
  ],
  [
    'ws smd',
    wire.smdFrameSchema,
    {
      topic: 'smd+265598',
      conid: 265598,
      conidEx: '265598',
      server_id: 'q6',
      '6119': 'q6',
      _updated: 1702334859712,
      '31': '382.89',
      '83': 0.04,
    },
    [(v) => ({ ...v, topic: 'smd+AAPL' }), ({ conid: _c, ...v }) => v],
  ],
  [
    'ws sor',
    wire.sorFrameSchema,
    {
      topic: 'sor',
      args: [{ acct: 'DU1234567', orderId: 1210386759, status: 'Submitted', sizeAndFills: '100/622' }],
    },
    [() => ({ topic: 'sor', args: [{ status: 'Submitted' }] })],
  ],
  [
    'ws spl',
    wire.splFrameSchema,
    {
      topic: 'spl',
      args: {
        'DU1234.Core': { rowType: 1, dpl: -57520.0, nl: 1034222.25, upl: 972100.0, uel: 0, mv: 45444 },
      },
    },
    [() => ({ topic: 'spl', args: { 'DU1234.Core': { dpl: 1 } } })],
  ],
  [
    'ws str',
    wire.strFrameSchema,
    { topic: 'str', args: [trade] },
    [() => ({ topic: 'str', args: [{ ...trade, size: '5' }] })],
  ],
  [
    'ws blt',
    wire.bltFrameSchema,
    { topic: 'blt', args: { id: 'competing-1', message: 'Another session took trading.' } },
    [() => ({ topic: 'blt', args: { id: 1, message: 'x' } })],
  ],
];

describe('the CPAPI wire shapes', () => {
  it.each(cases)(
    '%s: accepts IBKR’s example and refuses its mutations',
    (_name, schema, example, mutations) => {
      expect(schema.safeParse(example).error).toBeUndefined();
      for (const mutate of mutations) expect(schema.safeParse(mutate(example)).success).toBe(false);
    },
  );

  it('keeps IBKR’s fields it does not name (responses are loose)', () => {
    const parsed = wire.tickleResponseSchema.parse({ ...(cases[1]?.[2] as object), future: 1 });
    expect(parsed).toHaveProperty('future', 1);
  });

  it('serialises logout compactly, as IBeam compares it', () => {
    expect(wire.LOGOUT_BODY).toBe(JSON.stringify({ status: true }));
  });

  it('names every snapshot field the issue lists', () => {
    for (const code of [
      '31',
      '84',
      '86',
      '85',
      '88',
      '55',
      '6509',
      '7059',
      '82',
      '83',
      '70',
      '71',
      '7295',
      '7296',
      '6008',
      '6070',
    ])
      expect(wire.SNAPSHOT_FIELDS).toHaveProperty(code);
  });
});

describe('the gate’s questions in IBKR’s words', () => {
  it('maps no market data to o354 with the same text, and the price band to o163', () => {
    expect(wire.GATE_TO_IBKR.no_market_data).toEqual({ messageId: 'o354', relation: 'same' });
    expect(wire.GATE_TO_IBKR.price_far_through_market?.messageId).toBe('o163');
    expect(wire.IBKR_SUPPRESSIBLE_MESSAGES.o354).toMatch(
      /^You are submitting an order without market data\./,
    );
  });

  it('words o163 as IBKR’s example does', () => {
    expect(wire.priceConstraintQuestion('BUY 5 AAPL NASDAQ.NMS @ 150.0', 3)).toBe(
      'The following order "BUY 5 AAPL NASDAQ.NMS @ 150.0" price exceeds \nthe Percentage constraint of 3%.\nAre you sure you want to submit this order?',
    );
  });

  it('maps no refusal to a question', () => {
    expect(wire.GATE_TO_IBKR.INSUFFICIENT_BUYING_POWER).toBeNull();
    expect(wire.GATE_TO_IBKR.PRICE_OUT_OF_BAND).toBeNull();
  });
});

describe('client messages', () => {
  const parse = (raw: string) => wire.parseClientMessage(raw);

  it('reads ibind’s json.dumps spacing', () => {
    expect(parse('smd+265598+{"fields": ["31", "84"]}')).toEqual({
      ok: true,
      message: { kind: 'smd', conid: 265598, fields: ['31', '84'] },
    });
  });

  it.each([
    ['smd+265598+{"fields":["31","84","86"]}', { kind: 'smd', conid: 265598, fields: ['31', '84', '86'] }],
    ['umd+265598+{}', { kind: 'umd', conid: 265598 }],
    ['sor', { kind: 'sor' }],
    ['sor+{}', { kind: 'sor' }],
    ['sor+{"filters":["Submitted"]}', { kind: 'sor', filters: ['Submitted'] }],
    ['uor+{}', { kind: 'uor' }],
    ['tic', { kind: 'tic' }],
    ['spl+{}', { kind: 'spl' }],
    ['upl+{}', { kind: 'upl' }],
    ['str+{}', { kind: 'str' }],
    ['str+{"realtimeUpdatesOnly":false,"days":1}', { kind: 'str', realtimeUpdatesOnly: false, days: 1 }],
    ['utr', { kind: 'utr' }],
    ['ech+hb', { kind: 'ech', text: 'hb' }],
  ])('parses %s', (raw, message) => {
    expect(parse(raw)).toEqual({ ok: true, message });
  });

  it.each([
    'smd+AAPL+{"fields":["31"]}',
    'smd+265598+{"fields":[31]}',
    'smd+265598+{fields}',
    'sor+{"filters":"Submitted"}',
    'tic+{}',
    'xyz+{}',
    'smdx',
    '',
  ])('refuses %s', (raw) => {
    expect(parse(raw).ok).toBe(false);
  });

  it('round-trips every kind through its compact form', () => {
    const messages: wire.ClientMessage[] = [
      { kind: 'smd', conid: 8314, fields: ['31', '84', '86', '6509'] },
      { kind: 'umd', conid: 8314 },
      { kind: 'sor' },
      { kind: 'sor', filters: ['Submitted', 'Filled'] },
      { kind: 'uor' },
      { kind: 'tic' },
      { kind: 'spl' },
      { kind: 'upl' },
      { kind: 'str', realtimeUpdatesOnly: true, days: 2 },
      { kind: 'utr' },
      { kind: 'ech', text: 'hb' },
    ];
    for (const message of messages)
      expect(parse(wire.formatClientMessage(message))).toEqual({ ok: true, message });
    expect(wire.formatClientMessage(messages[0] as wire.ClientMessage)).toBe(
      'smd+8314+{"fields":["31","84","86","6509"]}',
    );
  });
});
