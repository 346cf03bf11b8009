// The dashboard's browser checks (run by dashboard.sh against a live daemon on the simulated GPU):
//  1. the page loads with no console error and shows the GPU and both services running;
//  2. `vramguard stop svc-b` from the CLI shows on the page within 2 s (measured);
//  3. restart without the token is refused, and the page says so;
//  4. with the token entered, restart is accepted and svc-a comes back (a new process);
//  5. a job that cannot fit is refused and the page shows its suggestions; a job that runs shows
//     its estimate and observed peak;
//  6. an OOM in svc-a's output is listed as an incident with its sentence.
// Plain node + playwright-core on the system's chromium: no test runner, no browser download.
'use strict';

const {execFile} = require('node:child_process');
const path = require('node:path');
const {check, openPage, run} = require(path.join(__dirname, 'browser_common.js'));

const URL = process.env.VG_URL;
const TOKEN = process.env.VG_TOKEN;
const ARTIFACTS = process.env.VG_ARTIFACTS;
const BIN = process.env.VG_BIN;
const STOP_DEADLINE_MS = 2000;

function cli(...args) {
  return new Promise((resolve) => {
    execFile(BIN, args, {timeout: 60000}, (err, stdout, stderr) => {
      resolve({rc: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr});
    });
  });
}

async function cliJson(...args) {
  const r = await cli(...args, '--json');
  try {
    return JSON.parse(r.stdout);
  } catch (e) {
    throw new Error(`vramguard ${args.join(' ')} --json gave no JSON (exit ${r.rc}): ${r.stderr}`);
  }
}


const stateCell = (service) => `tr[data-service="${service}"] td[data-field="state"]`;

async function waitForState(page, service, want, timeout) {
  await page.waitForFunction(([sel, w]) => {
    const cell = document.querySelector(sel);
    return cell !== null && cell.textContent === w;
  }, [stateCell(service), want], {timeout, polling: 10});
}

async function shot(page, name) {
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({path: file, fullPage: true});
  console.log('     screenshot ' + file);
}

async function main() {
  const {browser, page, errors, at} = await openPage({width: 1280, height: 900});
  try {
    page.on('requestfailed', (r) => {
      // The live stream is cut when the page goes away; nothing else may fail.
      if (!r.url().includes('/v1/events?follow=1')) errors.push({phase: at.phase, text: 'request failed: ' + r.url()});
    });

    // 1. Load: GPU, services, no console errors.
    await page.goto(URL);
    await page.waitForSelector('body[data-ready="true"]', {timeout: 15000});
    await page.waitForSelector('[data-gpu="0"] canvas', {timeout: 15000});
    await waitForState(page, 'svc-a', 'running', 10000);
    await waitForState(page, 'svc-b', 'running', 10000);
    await page.waitForSelector('#live[data-state="on"]', {timeout: 10000});
    const gpuTitle = await page.textContent('[data-gpu="0"] h3');
    check(/GPU 0 · .+ · .*GiB/.test(gpuTitle), `the GPU is shown: "${gpuTitle}"`);
    // Give the history poll a couple of rounds to add samples, and the chart its holders.
    await page.waitForFunction(() => document.querySelectorAll('[data-gpu="0"] .u-legend .u-series').length >= 3,
                               null, {timeout: 15000});
    const legend = await page.textContent('[data-gpu="0"] .u-legend');
    check(legend.includes('svc-a') && legend.includes('svc-b'), 'the chart stacks both services: ' + legend.replace(/\s+/g, ' ').slice(0, 160));
    const vramA = await page.textContent('tr[data-service="svc-a"] td[data-field="vram"]');
    check(/GiB/.test(vramA), `svc-a's VRAM is shown (${vramA})`);
    check(errors.length === 0, 'no console errors while loading: ' + JSON.stringify(errors));
    await shot(page, 'dashboard.png');

    // 2. A stop from the CLI reaches the page within 2 s.
    at.phase = 'stop';
    const t0 = Date.now();
    let cliDone = 0;
    const stop = cli('stop', 'svc-b').then((r) => { cliDone = Date.now(); return r; });
    await waitForState(page, 'svc-b', 'stopped', 30000);
    const seen = Date.now();
    const stopped = await stop;
    check(stopped.rc === 0, `vramguard stop svc-b exits 0 (${stopped.stderr.trim()})`);
    const lag = Math.max(0, seen - cliDone);
    console.log(`     stop: CLI took ${cliDone - t0} ms; page showed "stopped" ${seen - t0} ms after the CLI started, ${lag} ms after it returned`);
    check(lag <= STOP_DEADLINE_MS, `the page shows the stop within ${STOP_DEADLINE_MS} ms (${lag} ms)`);

    // 3. Restart without the token: refused, and the page says why.
    at.phase = 'refused';
    const pidBefore = (await cliJson('status', 'svc-a')).pid;
    await page.click('tr[data-service="svc-a"] button[data-action="restart"]');
    await page.waitForSelector('#action-message.error', {timeout: 5000});
    const refusedText = await page.textContent('#action-message');
    check(refusedText.includes('401') && refusedText.includes('missing API token'),
          `restart without the token is refused: "${refusedText}"`);
    await shot(page, 'refused-without-token.png');
    const pidStill = (await cliJson('status', 'svc-a')).pid;
    check(pidStill === pidBefore, `svc-a was not restarted (pid ${pidStill})`);

    // 4. With the token: accepted, and svc-a comes back as a new process.
    at.phase = 'token';
    await page.fill('#token', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#token-state:text("token set for this tab")', {timeout: 5000});
    const stored = await page.evaluate(() => sessionStorage.getItem('vramguard.token'));
    check(stored === TOKEN, 'the token is kept in sessionStorage');
    check(!(await page.content()).includes(TOKEN), 'the token is not in the page');
    await page.waitForSelector('#live[data-state="on"]', {timeout: 10000});
    // Every state the page shows for svc-a from now on.
    await page.evaluate((sel) => {
      const cell = document.querySelector(sel);
      window.vgStates = [];
      new MutationObserver(() => window.vgStates.push(cell.textContent))
          .observe(cell, {childList: true, characterData: true, subtree: true});
    }, stateCell('svc-a'));
    await page.click('tr[data-service="svc-a"] button[data-action="restart"]');
    await page.waitForSelector('#action-message.ok', {timeout: 5000});
    check((await page.textContent('#action-message')).includes('accepted'), 'restart with the token is accepted');
    let pidAfter = pidBefore;
    for (const deadline = Date.now() + 30000; Date.now() < deadline;) {
      const s = await cliJson('status', 'svc-a');
      if (s.state === 'running' && s.pid && s.pid !== pidBefore) { pidAfter = s.pid; break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    check(pidAfter !== pidBefore, `svc-a came back as a new process (pid ${pidBefore} → ${pidAfter})`);
    await waitForState(page, 'svc-a', 'running', 5000);
    const states = await page.evaluate(() => window.vgStates);
    check(states.some((s) => s !== 'running') && states[states.length - 1] === 'running',
          'the page followed the restart live: ' + [...new Set(states)].join(' → '));

    // 5. Jobs: one that runs (estimate vs observed), one that cannot fit (suggestions).
    at.phase = 'jobs';
    const good = await cliJson('submit', 'svc-a', 'resolution=512', 'frames=16', 'steps=5', '--wait');
    check(good.id !== undefined, `a 512p job was submitted (${good.id}, ${good.state})`);
    const refused = await cli('submit', 'svc-a', 'resolution=1024', 'frames=32', 'steps=100', '--json');
    check(refused.rc === 5, `the 1024p job is refused by the CLI (exit ${refused.rc})`);
    const refusal = JSON.parse(refused.stdout || '{}');
    const jobId = refusal.id;
    check(jobId !== undefined && refusal.suggestions && refusal.suggestions.length > 0,
          `the refusal has suggestions (${refusal.suggestions ? refusal.suggestions.length : 0})`);
    await page.waitForSelector(`tr[data-refusal="${jobId}"] .suggestions li`, {timeout: 5000});
    const shown = await page.$$eval(`tr[data-refusal="${jobId}"] .suggestions li`, (lis) => lis.map((l) => l.textContent));
    check(shown.length === refusal.suggestions.length, `the page lists the ${shown.length} suggestions: ${shown.join(' | ')}`);
    const reason = await page.textContent(`tr[data-refusal="${jobId}"] .reason`);
    check(reason.length > 0 && reason === refusal.error, `the page gives the refusal's reason: "${reason}"`);
    await page.waitForFunction((id) => {
      const row = document.querySelector(`tr[data-job="${id}"]`);
      return row !== null && row.cells[2].textContent === 'done' && /B$/.test(row.cells[5].textContent.split(' (')[0]);
    }, good.id, {timeout: 30000, polling: 50});
    const goodRow = await page.$$eval(`tr[data-job="${good.id}"] td`, (tds) => tds.map((t) => t.textContent));
    check(/B$/.test(goodRow[4]), `the done job shows estimate ${goodRow[4]} vs observed ${goodRow[5]}`);
    await page.locator('#jobs').scrollIntoViewIfNeeded();
    await shot(page, 'jobs-refused.png');

    // 6. An incident: a job sent to svc-a past vramguard runs out of memory; the page lists the
    //    `oom` event with its sentence.
    at.phase = 'incident';
    const oom = await fetch(`http://127.0.0.1:${process.env.VG_PORT_A}/generate`, {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({resolution: 1024, frames: 64, steps: 5}),
    }).catch((e) => ({status: String(e)}));
    console.log(`     POST /generate 1024p/64f straight to svc-a: ${oom.status}`);
    await page.waitForSelector('#incidents li.kind-oom', {timeout: 15000});
    const events = await cliJson('events', '--kind', 'oom');
    const last = events.events[events.events.length - 1];
    const sentence = await page.textContent(`#incidents li[data-event="${last.id}"] .sentence`);
    check(sentence === ((last.data && last.data.explanation) || last.message),
          `the incident is listed with its sentence: "${sentence}"`);
    await shot(page, 'incident.png');

    // Nothing else went wrong: the only console errors are the browser's report of the 401.
    const unexpected = errors.filter((e) => !(e.phase === 'refused' && /status of 401/.test(e.text)));
    check(unexpected.length === 0, 'no other console errors: ' + JSON.stringify(unexpected));
  } finally {
    await browser.close();
  }
}

run(main);
