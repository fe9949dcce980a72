// Drives the admin console in Debian's Chromium with playwright-core: signs in with an admin
// key, creates a key, filters the audit log and opens a record, views upstreams (whose tool
// description carries <script>) and pins, and checks what must be refused. Prints one JSON
// line of what it saw; the Python test asserts on it. Screenshots go to $SCREENSHOTS.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT);
const admin = process.env.ADMIN_URL;
const shots = process.env.SCREENSHOTS;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const seen = {};
const fail = (why) => { throw new Error(why); };
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  // Without a credential the API answers 401.
  await page.goto(admin + '/');
  seen.no_credential_status = await page.evaluate(async () => (await fetch('/api/v1/keys')).status);
  await page.waitForSelector('#signin:not([hidden])');
  await page.screenshot({ path: `${shots}/signin.png`, fullPage: true });

  // The caller's own key does not sign in.
  await page.fill('#key', process.env.CALLER_KEY);
  await page.click('#signin-form button');
  await page.waitForFunction(() => document.getElementById('signin-error').textContent.length > 0);
  seen.caller_sign_in = (await page.textContent('#signin-error')).includes('portcullis:admin') ? 'refused' : 'unclear';

  await page.fill('#key', process.env.ADMIN_KEY);
  await page.click('#signin-form button');
  await page.waitForSelector('#nav:not([hidden])');

  await page.goto(admin + '/#approvals');
  await page.waitForSelector('#no-approvals');
  await page.screenshot({ path: `${shots}/approvals.png`, fullPage: true });

  await page.goto(admin + '/#keys');
  await page.waitForSelector('#new-key');
  await page.fill('#new-key input[name=name]', 'browser-made');
  await page.click('#new-key button[type=submit]');
  await page.waitForSelector('#new-token');
  seen.created_token = await page.textContent('#new-token');
  await page.waitForSelector('text=browser-made');
  await page.screenshot({ path: `${shots}/keys.png`, fullPage: true });

  await page.goto(admin + '/#audit');
  await page.waitForSelector('#chain.ok');
  await page.selectOption('#audit-filter select[name=outcome]', 'ok');
  await page.fill('#audit-filter input[name=since]', '1h');
  await page.click('#audit-filter button[type=submit]');
  // The rows drawn for this filter, not those of the first, unfiltered load.
  await page.waitForSelector('#audit-results[data-query*="outcome=ok"] tbody tr');
  const outcomes = await page.$$eval('#audit-results tbody tr td:nth-child(5)', (tds) => tds.map((t) => t.textContent));
  if (outcomes.some((o) => o !== 'ok')) fail('the filter let through ' + outcomes.join(','));
  seen.audit_rows = outcomes.length;
  await page.screenshot({ path: `${shots}/audit.png`, fullPage: true });
  await page.click('#audit-results tbody tr');
  await page.waitForSelector('#audit-detail pre');
  seen.detail_has_request_id = (await page.textContent('#audit-detail pre')).includes('"request_id"');
  await page.screenshot({ path: `${shots}/audit-detail.png`, fullPage: true });

  await page.goto(admin + '/#upstreams');
  await page.click('text=mut');
  await page.waitForSelector('#upstream-tools td');
  seen.description = await page.$eval('#upstream-tools tbody tr td:nth-child(2)', (td) => td.textContent);
  seen.pwned = await page.evaluate(() => window.pwned ?? null);
  seen.injected_nodes = await page.$$eval('#upstream-tools script, #upstream-tools img', (n) => n.length);
  if (seen.injected_nodes !== 0) fail('markup from an upstream became elements');
  await page.screenshot({ path: `${shots}/upstreams.png`, fullPage: true });

  await page.goto(admin + '/#pins');
  await page.waitForSelector('text=mut_notes');
  await page.screenshot({ path: `${shots}/pins.png`, fullPage: true });

  // Another origin on the same site (the MCP port): the browser sends the Strict cookie, but
  // without the CSRF token and with a foreign Origin the POST is refused.
  const other = await context.newPage();
  await other.goto(process.env.OTHER_ORIGIN_URL);
  await other.evaluate(async (url) => {
    await fetch(url + '/api/v1/keys', {
      method: 'POST', mode: 'no-cors', credentials: 'include',
      headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ name: 'cross-origin' }),
    }).catch(() => {});
  }, admin);
  if (errors.length) fail('page errors: ' + errors.join('; '));
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
