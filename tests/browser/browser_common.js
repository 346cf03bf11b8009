// What the browser tests' scripts (dashboard.js, gradio_page.js) share: Debian's chromium through
// playwright-core (VG_CHROMIUM, no browser download), a page that records every console error and
// uncaught exception with the phase the script says it is in, and check().
'use strict';

const {chromium} = require('playwright-core');

function check(condition, what) {
  if (!condition) throw new Error(what);
  console.log('ok   ' + what);
}

// {browser, page, errors, at}: set `at.phase` as the script moves on; each error names it.
async function openPage(viewport) {
  const browser = await chromium.launch({
    executablePath: process.env.VG_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const page = await browser.newPage({viewport});
  const errors = [];
  const at = {phase: 'load'};
  page.on('console', (m) => { if (m.type() === 'error') errors.push({phase: at.phase, text: m.text()}); });
  page.on('pageerror', (e) => errors.push({phase: at.phase, text: 'uncaught: ' + e.message}));
  return {browser, page, errors, at};
}

// Runs main(), failing the process with the error's stack.
function run(main) {
  main().catch((err) => {
    console.error('FAIL: ' + (err && err.stack ? err.stack : err));
    process.exit(1);
  });
}

module.exports = {check, openPage, run};
