// Test harness for Debrief's browser journeys.
//
// startStack() creates a fresh PostgreSQL database on the cluster named by DATABASE_URL (a role that may
// CREATE DATABASE; ./scripts/test provides one), starts `target/debug/debrief run --demo` (with its Fathom
// simulator) from the repo root against it on free ports, waits for /readyz and launches Debian's Chromium through playwright-core. stop() undoes
// all of that (app killed, browser closed, database dropped); useStack() ties both to before/after hooks.
// journey() wraps node:test's test() so every journey gets its own browser contexts and a full-page
// screenshot of each of its pages lands in target/e2e/ when it fails. checkPage() is each key page's
// check: no serious or critical axe-core violation, nothing wider than the viewport, a screenshot.
//
// Knobs: DATABASE_URL (required), CHROMIUM_PATH (default /usr/bin/chromium), DEBRIEF_BIN (default
// target/debug/debrief), E2E_KEEP_DB=1 keeps the database for inspection.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import pg from 'pg';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
/** Screenshots and the app's log land here (scripts/screenshots copies some into docs/). */
export const resultsDir = path.join(repoRoot, 'target', 'e2e');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** The phone width every key page must fit. */
export const PHONE = { width: 375, height: 812 };

/** Default time (ms) a locator action or wait may take before the step fails. */
const STEP_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 30_000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released for the app to bind). */
async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

function quoteIdent(name) {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Runs one statement on the cluster's maintenance database (DATABASE_URL as given). */
async function adminQuery(adminUrl, sql) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** DATABASE_URL with its database name replaced. */
function withDatabase(adminUrl, dbName) {
  const url = new URL(adminUrl);
  url.pathname = `/${dbName}`;
  return url.toString();
}

async function waitForReady(baseUrl, app, logPath) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (app.exitCode !== null || app.signalCode !== null) {
      throw new Error(`debrief exited (${app.exitCode ?? app.signalCode}) before it was ready; see ${logPath}`);
    }
    try {
      const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`debrief was not ready within ${READY_TIMEOUT_MS} ms; see ${logPath}`);
}

async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts database, app and browser. Returns { baseUrl, browser, dbName, newPage(), stop() }.
 * Call stop() in an after() hook; it is safe to call when start-up failed half-way.
 */
export async function startStack() {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    throw new Error(
      'DATABASE_URL is not set. Run ./scripts/test, or start a cluster (source scripts/lib/pg.sh; ' +
        'DEBRIEF_PG_FAST=1 pg_start test 55433) and export DATABASE_URL=postgres://debrief@127.0.0.1:55433/postgres',
    );
  }
  const bin = process.env.DEBRIEF_BIN || path.join(repoRoot, 'target', 'debug', 'debrief');
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing; build it with: cargo build --bin debrief`);
  }
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`Chromium not found at ${executablePath}; apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }

  mkdirSync(resultsDir, { recursive: true });
  const dbName = `debrief_e2e_${randomBytes(6).toString('hex')}`;
  const stack = { baseUrl: '', browser: null, app: null, dbName, dbCreated: false, stateDir: null };

  stack.stop = async () => {
    const errors = [];
    const attempt = async (fn) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    await attempt(async () => stack.browser && (await stack.browser.close()));
    await attempt(() => stopProcess(stack.app));
    await attempt(async () => {
      if (stack.dbCreated && process.env.E2E_KEEP_DB !== '1') {
        await adminQuery(adminUrl, `drop database if exists ${quoteIdent(dbName)} with (force)`);
      }
    });
    await attempt(async () => stack.stateDir && rmSync(stack.stateDir, { recursive: true, force: true }));
    if (errors.length) throw new AggregateError(errors, 'e2e teardown failed');
  };

  try {
    await adminQuery(adminUrl, `create database ${quoteIdent(dbName)}`);
    stack.dbCreated = true;

    const port = await freePort();
    const simPort = await freePort();
    const crmSimPort = await freePort();
    stack.baseUrl = `http://127.0.0.1:${port}`;
    stack.fathomSimUrl = `http://127.0.0.1:${simPort}`;
    stack.stateDir = mkdtempSync(path.join(tmpdir(), 'debrief-e2e-'));
    const logPath = path.join(resultsDir, 'app.log');
    const log = createWriteStream(logPath);
    // --demo: Fathom is the in-process simulator (keys demo-key-alice / demo-key-bob).
    // The CRM simulator (HubSpot and Salesforce) starts in-process too, on its own free port.
    stack.app = spawn(bin, ['run', '--demo', '--fathom-sim-port', String(simPort), '--crm-sim-port', String(crmSimPort)], {
      cwd: repoRoot,
      env: {
        ...process.env,
        APP_ENVIRONMENT: 'local',
        DEBRIEF__DATABASE__URL: withDatabase(adminUrl, dbName),
        DEBRIEF__APPLICATION__HOST: '127.0.0.1',
        DEBRIEF__APPLICATION__PORT: String(port),
        DEBRIEF__APPLICATION__BASE_URL: stack.baseUrl,
        DEBRIEF__APPLICATION__SESSION_SECRET: randomBytes(32).toString('hex'),
        DEBRIEF__APPLICATION__LOCAL_STATE_DIR: stack.stateDir,
        RUST_LOG: process.env.RUST_LOG || 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    stack.app.stdout.pipe(log);
    stack.app.stderr.pipe(log);
    await waitForReady(stack.baseUrl, stack.app, logPath);

    stack.browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  } catch (err) {
    await stack.stop().catch(() => {});
    throw err;
  }

  /** A page in a brand-new browser context (its own cookies), tracked for screenshots and cleanup. */
  stack.newContext = async (viewport = { width: 1280, height: 800 }) => {
    const context = await stack.browser.newContext({ baseURL: stack.baseUrl, viewport });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    return context;
  };
  return stack;
}

function slugify(text) {
  return text.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
}

let current = null;

/**
 * Registers before/after hooks that start the stack once for the calling test file and stop it at the end.
 * Returns a getter for the running stack ({ baseUrl, browser, dbName, newContext }).
 */
export function useStack() {
  before(async () => {
    current = await startStack();
    // If the runner is interrupted, at least do not leave the app running.
    const app = current.app;
    process.once('exit', () => app.exitCode === null && app.signalCode === null && app.kill('SIGKILL'));
  });
  after(async () => {
    if (current) await current.stop();
    current = null;
  });
  return () => current;
}

/**
 * Declares a journey: fn receives { newPage, baseUrl }; newPage() opens a page in a fresh browser context
 * (its own cookies). On failure every page the journey opened is screenshotted into
 * target/e2e/failed-<journey>-<n>.png. Needs useStack() in the same file.
 */
export function journey(name, fn) {
  test(name, async () => {
    if (!current) throw new Error('the stack is not running (did useStack() fail in before()?)');
    const stack = current;
    const contexts = [];
    const pages = [];
    // Console errors (a Content-Security-Policy violation among them), uncaught page errors, server
    // errors and failed sub-resources (a missing favicon, script or stylesheet) fail the journey even
    // when every step passed. A page answered 4xx on purpose (a form re-rendered with 422) does not.
    const problems = [];
    const newPage = async (viewport) => {
      const context = await stack.newContext(viewport);
      contexts.push(context);
      const page = await context.newPage();
      page.on('console', (msg) => {
        // Failed loads are judged by the response handler below, which knows what was loaded.
        if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
          problems.push(`console error on ${page.url()}: ${msg.text()}`);
        }
      });
      page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.message}`));
      page.on('requestfailed', (request) => {
        const failure = request.failure()?.errorText ?? 'failed';
        // A navigation that replaced an in-flight htmx poll is not a problem.
        if (failure !== 'net::ERR_ABORTED') problems.push(`${request.url()}: ${failure}`);
      });
      page.on('response', (response) => {
        const status = response.status();
        const subresource = response.request().resourceType() !== 'document';
        if (status >= 500 || (subresource && status >= 400)) {
          problems.push(`${status} from ${response.url()}`);
        }
      });
      pages.push(page);
      return page;
    };
    try {
      await fn({ newPage, baseUrl: stack.baseUrl, fathomSimUrl: stack.fathomSimUrl });
      if (problems.length) throw new Error(`the journey saw problems:\n${problems.join('\n')}`);
    } catch (err) {
      for (const [i, page] of pages.entries()) {
        const file = path.join(resultsDir, `failed-${slugify(name)}-${i + 1}.png`);
        try {
          await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
          console.error(`screenshot of ${page.url()} saved to ${path.relative(repoRoot, file)}`);
        } catch {
          // page already gone; nothing to capture
        }
      }
      throw err;
    } finally {
      await Promise.allSettled(contexts.map((c) => c.close()));
    }
  });
}

/**
 * A key page's check: axe-core finds no serious or critical violation, nothing is wider than the
 * viewport (document.documentElement.scrollWidth <= innerWidth), and screenshots are saved as
 * target/e2e/<name>.png (the whole page) and <name>.screen.png (the first screen). axe is evaluated through the DevTools protocol, which the page's
 * Content-Security-Policy does not govern, so the policy stays on for the journey.
 */
export async function checkPage(page, name) {
  await page.waitForLoadState('load');
  const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: innerWidth }));
  if (widths.scroll > widths.inner) {
    const wide = await page.evaluate(() =>
      Array.from(document.querySelectorAll('body *'))
        .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
        .filter((e) => !(e.parentElement.getBoundingClientRect().right > innerWidth + 1))
        .slice(0, 5)
        .map((e) => `<${e.tagName.toLowerCase()} id="${e.id}" class="${e.className}">`),
    );
    throw new Error(`${name}: ${page.url()} is ${widths.scroll}px wide in a ${widths.inner}px viewport; widest: ${wide.join(', ')}`);
  }
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')})`);
  });
  mkdirSync(resultsDir, { recursive: true });
  await page.screenshot({ path: path.join(resultsDir, `${name}.png`), fullPage: true });
  // The first screen alone, as a person lands on it: what the README's tour shows.
  const scrolled = await page.evaluate(() => [scrollX, scrollY]);
  await page.evaluate(() => scrollTo(0, 0));
  await page.screenshot({ path: path.join(resultsDir, `${name}.screen.png`) });
  await page.evaluate(([x, y]) => scrollTo(x, y), scrolled);
  if (violations.length) throw new Error(`${name}: accessibility violations on ${page.url()}:\n${violations.join('\n')}`);
}

/** Waits until the locator is visible (fails the step with the locator in the message otherwise). */
export async function expectVisible(locator, message) {
  try {
    await locator.waitFor({ state: 'visible' });
  } catch (err) {
    throw new Error(`${message ?? 'expected element to be visible'}: ${locator}\n${err.message}`);
  }
}

/** Waits until the locator's text contains `text`. */
export async function expectText(locator, text) {
  await expectVisible(locator.filter({ hasText: text }).first(), `expected ${JSON.stringify(text)} in`);
}

/** Waits until the page's path (not origin) matches `pathOrRegExp`. */
export async function expectPath(page, pathOrRegExp) {
  const matches = (url) =>
    typeof pathOrRegExp === 'string' ? url.pathname + url.search === pathOrRegExp : pathOrRegExp.test(url.pathname);
  try {
    await page.waitForURL(matches);
  } catch (err) {
    throw new Error(`expected path ${pathOrRegExp}, browser is at ${page.url()}\n${err.message}`);
  }
}

/** Names and emails that cannot collide between journeys or reruns against the same database. */
export function uniqueTag() {
  return randomBytes(3).toString('hex');
}

/** Path of an organisation's home page. */
export const ORG_HOME = /^\/o\/[^/]+\/$/;

/** Signs up through /signup and waits for the new organisation's home page; returns its slug. */
export async function signUp(page, person) {
  await page.goto('/signup');
  await page.getByLabel('Your name').fill(person.name);
  await page.getByLabel('Work email').fill(person.email);
  await page.getByLabel('Password', { exact: true }).fill(person.password);
  await page.getByLabel('Organisation name').fill(person.orgName);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expectPath(page, ORG_HOME);
  await expectVisible(page.getByRole('heading', { level: 1, name: person.orgName }));
  return new URL(page.url()).pathname.split('/')[2];
}
