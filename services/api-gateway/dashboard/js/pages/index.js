// The dashboard's pages, in the order of the navigation.  Each module is
// `export default { id, title, render(root, params) -> cleanup? }`.
// One import per line, so that pages added at once merge cleanly.
// (kit.js is not a page: what the operator pages share.)

import overview from './overview.js';
import agents from './agents.js';
import sessions from './sessions.js';
import schedules from './schedules.js';
import workflows from './workflows.js';
import approvals from './approvals.js';
import memory from './memory.js';
import usage from './usage.js';
import audit from './audit.js';
import logs from './logs.js';
import providers from './providers.js';
import channels from './channels.js';
import config from './config.js';
import chat from './chat.js';

export default [
  overview,
  chat,
  agents,
  sessions,
  schedules,
  workflows,
  approvals,
  memory,
  usage,
  audit,
  logs,
  providers,
  channels,
  config,
];
