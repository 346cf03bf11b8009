// The Gradio-like page's browser checks (run by gradio_page.sh against a live daemon whose proxy
// fronts the demo service):
//  1. the page loads through the proxy with no console error;
//  2. Generate with 512p/16f: the join is admitted, the page follows the event stream through
//     the proxy to "done" and shows the output;
//  3. Generate with 1024p/64f (more than the GPU can ever hold): refused at once, and the page
//     shows the door's Gradio-shaped `detail` with the parameters that would fit.
// VG_MODE=ws: the same through the page's Gradio 3 mode (a WebSocket per click; the refusal is
// the door's failed process_completed).
'use strict';

const path = require('node:path');
const {check, openPage, run} = require(path.join(__dirname, 'browser_common.js'));

const URL = process.env.VG_URL;
const MODE = process.env.VG_MODE || 'sse';  // 'ws': the page speaks Gradio 3's WebSocket queue
const ARTIFACTS = process.env.VG_ARTIFACTS;


async function generate(page, resolution, frames, steps) {
  await page.selectOption('#resolution', String(resolution));
  await page.fill('#frames', String(frames));
  await page.fill('#steps', String(steps));
  const t0 = Date.now();
  await page.click('#generate');
  await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('status').textContent),
                             null, {timeout: 30000, polling: 10});
  return {status: await page.textContent('#status'), output: await page.textContent('#output'),
          ms: Date.now() - t0};
}

async function main() {
  const {browser, page, errors, at} = await openPage({width: 1000, height: 700});
  try {
    // 1. The page, through the proxy.
    const response = await page.goto(URL);
    check(response.status() === 200, `GET /app through the proxy: ${response.status()}`);
    check((response.headers()['via'] || '').includes('vramguard'), 'the answer came through vramguard (Via)');
    await page.waitForSelector('#generate');
    check(errors.length === 0, 'no console errors while loading: ' + JSON.stringify(errors));

    // 2. A job that fits: joined, followed on the event stream, done.
    at.phase = 'fits';
    const ok = await generate(page, 512, 16, 10);
    console.log(`     ${MODE} 512p/16f: ${ok.status} in ${ok.ms} ms`);
    check(ok.status === 'done', `a job that fits ends done on the page (${ok.status}: ${ok.output.slice(0, 200)})`);
    check(/peak_bytes/.test(ok.output), 'the page shows the service\'s output');
    await page.screenshot({path: path.join(ARTIFACTS, `gradio-page-${MODE}-done.png`), fullPage: true});

    // 3. A job that can never fit: refused at once with what would fit.
    at.phase = 'refused';
    const no = await generate(page, 1024, 64, 10);
    console.log(`     ${MODE} 1024p/64f: ${no.status} in ${no.ms} ms: ${no.output.slice(0, 300)}`);
    check(no.status === 'error', 'a job that can never fit is refused on the page');
    check(/GiB/.test(no.output), `the page shows the door's reason: "${no.output.slice(0, 160)}"`);
    check(/frames|resolution/.test(no.output), 'the reason names parameters that would fit');
    check(no.ms < 5000, `the refusal came at once (${no.ms} ms)`);
    await page.screenshot({path: path.join(ARTIFACTS, `gradio-page-${MODE}-refused.png`), fullPage: true});

    // The only console error allowed: the browser's report of the refusal's 4xx.
    const unexpected = errors.filter((e) => !(e.phase === 'refused' && /status of 4\d\d/.test(e.text)));
    check(unexpected.length === 0, 'no other console errors: ' + JSON.stringify(unexpected));
  } finally {
    await browser.close();
  }
}

run(main);
