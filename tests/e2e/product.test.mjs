// The product journeys: an org connects Fathom and HubSpot (the demo simulators), browses its customers
// and meetings, fixes links by hand, reviews unmatched meetings, searches, invites a teammate, and
// stays invisible to other orgs. Every key page is checked by checkPage (axe-core, no horizontal
// overflow, a screenshot under target/e2e/), also at a 375 px phone width.

import assert from 'node:assert/strict';

import { PHONE, checkPage, expectPath, expectText, expectVisible, journey, uniqueTag, useStack, ORG_HOME, signUp } from './harness.mjs';

useStack();

const PASSWORD = 'correct horse battery';
/** The demo Fathom user whose key the first journey connects (the simulator's demo data). */
const FATHOM = { email: 'alice.johnson@acme.com', key: 'demo-key-alice' };
/**
 * The demo Fathom user the shared org connects: Fathom's rate limit (60 requests a minute) is per
 * user, so with another user the shared org's first sync does not wait on the first journey's.
 */
const SHARED_FATHOM = { email: 'bob.lee@acme.com', key: 'demo-key-bob' };

function newPerson(first, orgName) {
  const tag = uniqueTag();
  return {
    name: `${first} ${tag}`,
    email: `${first.toLowerCase()}.${tag}@acme.com`,
    password: PASSWORD,
    orgName: orgName && `${orgName} ${tag}`,
  };
}

function nav(page) {
  return page.getByRole('navigation', { name: 'Main' });
}


/** Reloads until `check()` is true (pages that poll by themselves are reloaded only as a fallback). */
async function eventually(page, check, what, { tries = 40, every = 1_000 } = {}) {
  for (let i = 0; i < tries; i += 1) {
    if (await check()) return;
    await page.waitForTimeout(every);
    await page.reload();
  }
  throw new Error(`gave up waiting for ${what} at ${page.url()}`);
}

/**
 * Integrations → Connect Fathom → the demo key; waits for the first sync to succeed (up to 90 s: a
 * sync Fathom rate-limits waits as long as it asks, up to a minute).
 */
async function connectFathom(page, slug, fathom = FATHOM) {
  await page.goto(`/o/${slug}/integrations`);
  await page.getByRole('button', { name: 'Connect Fathom' }).click();
  await expectVisible(page.locator('#demo-keys'), 'demo mode offers the demo keys');
  await page.getByLabel('Fathom account email').fill(fathom.email);
  await page.getByLabel('Fathom API key').fill(fathom.key);
  await page.getByRole('button', { name: 'Connect Fathom' }).click();
  await expectPath(page, `/o/${slug}/integrations`);
  const row = page.getByRole('row', { name: new RegExp(fathom.email.replace('.', '\\.')) });
  await row.getByRole('link', { name: fathom.email }).click();
  await expectVisible(page.getByRole('heading', { level: 1, name: /Fathom sync/ }));
  const firstRun = page.locator('#sync-runs tbody tr').first();
  await eventually(page, async () => (await firstRun.getAttribute('data-state')) === 'succeeded', 'the first sync', { tries: 90 });
  await expectText(firstRun, 'Succeeded');
}

/** Integrations → Connect HubSpot → approve at the (simulated) HubSpot → the first import ends. */
async function connectHubspot(page, slug) {
  await page.goto(`/o/${slug}/integrations`);
  await page.getByRole('button', { name: 'Connect HubSpot' }).click();
  await expectVisible(page.getByRole('heading', { name: /HubSpot/ }), 'the HubSpot authorize page');
  await checkPage(page, 'hubspot-authorize');
  await page.getByRole('button', { name: 'Approve' }).click();
  await expectPath(page, new RegExp(`^/o/${slug}/integrations/crm/[^/]+$`));
  await expectVisible(page.getByRole('heading', { level: 1, name: /HubSpot/ }));
  const run = page.locator('.crm-import').first();
  await eventually(page, async () => (await run.getAttribute('data-state')) === 'done', 'the first HubSpot import');
  assert.equal(await page.locator('.crm-import .run-error').count(), 0, 'the import ended without an error');
}

async function logIn(page, person) {
  await page.goto('/login');
  await page.getByLabel('Email', { exact: true }).fill(person.email);
  await page.getByLabel('Password', { exact: true }).fill(person.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expectPath(page, ORG_HOME);
}

let shared = null;

/**
 * The org the later journeys share, with Fathom and HubSpot connected (made by the first journey that
 * asks; each journey's changes leave what the others look at alone). Returns a page of a fresh browser
 * context logged in as its owner, with { slug, person }.
 */
async function connectedOrg(newPage, viewport) {
  const page = await newPage(viewport);
  if (!shared) {
    const person = newPerson('Olivia', 'Acme Shared');
    const slug = await signUp(page, person);
    await connectFathom(page, slug, SHARED_FATHOM);
    await connectHubspot(page, slug);
    // The re-match after the import links the meetings Fathom already sent.
    await openCustomer(page, slug, 'Globex');
    await eventually(page, async () => (await page.locator('#customer-meetings > li').count()) > 0, 'meetings on Globex');
    shared = { slug, person };
  } else {
    await logIn(page, shared.person);
  }
  return { page, ...shared };
}

/** Opens the customer `name` from the customers list. */
async function openCustomer(page, slug, name) {
  await page.goto(`/o/${slug}/customers`);
  await page.locator('#customers').getByRole('link', { name, exact: true }).click();
  await expectVisible(page.getByRole('heading', { level: 1, name }));
}

journey('the whole first journey: connect Fathom and HubSpot, browse a customer and a meeting, sync a new call', async ({ newPage, fathomSimUrl }) => {
  const page = await newPage();
  const ada = newPerson('Ada', 'Acme Success');
  const slug = await signUp(page, ada);

  // The empty org home says what to do first.
  await expectVisible(page.locator('#demo-banner'), 'demo mode says so');
  await expectVisible(page.getByRole('button', { name: 'Connect Fathom' }));
  assert.match(await page.title(), new RegExp(ada.orgName));
  await checkPage(page, 'org-home-empty');

  await connectFathom(page, slug);
  await checkPage(page, 'fathom-connection');
  await connectHubspot(page, slug);
  await checkPage(page, 'hubspot-connection');

  // Customers came from HubSpot, with figures from the meetings Fathom sent.
  await nav(page).getByRole('link', { name: 'Customers' }).click();
  await expectPath(page, `/o/${slug}/customers`);
  await expectVisible(page.locator('#customers').getByRole('link', { name: 'Globex', exact: true }));
  await checkPage(page, 'customers');

  await openCustomer(page, slug, 'Globex');
  await expectText(page.locator('#crm-records'), 'Imported from HubSpot');
  // The import queues a re-match a moment later; its figures follow it.
  const meetingsTotal = async () => Number((await page.locator('#meetings-total').textContent()).replaceAll(',', ''));
  await eventually(page, async () => (await meetingsTotal()) > 0, 'meetings counted on Globex');
  const total = await meetingsTotal();
  await expectVisible(page.locator('#customer-activity svg.weekly-chart'));
  await expectVisible(page.locator('#contacts tbody tr').first());
  await expectVisible(page.locator('#customer-action-items li').first());
  const meetings = page.locator('#customer-meetings > li');
  assert.equal(await meetings.count(), Math.min(total, 50));
  await checkPage(page, 'customer');
  const customerUrl = page.url();

  // A meeting: summary, action items, transcript, attendees, and what became of it in HubSpot.
  const first = meetings.first().getByRole('link').first();
  const title = (await first.textContent()).trim();
  await first.click();
  await expectVisible(page.getByRole('heading', { level: 1, name: title }));
  await expectVisible(page.locator('#summary'));
  await expectVisible(page.locator('#action-items li').first());
  await expectVisible(page.locator('#attendees-external li').first());
  await expectVisible(page.getByRole('heading', { level: 2, name: 'Transcript' }));
  await expectText(page.locator('#linked-customers'), 'Globex');
  await eventually(
    page,
    async () => (await page.locator('#crm-pushes li[data-kind="note"]').first().getAttribute('data-state').catch(() => null)) === 'pushed',
    'the note in HubSpot',
  );
  await expectText(page.locator('#crm-pushes'), 'written');
  // A long transcript starts folded; opening it shows every line.
  const panel = page.locator('#transcript-panel');
  if (!(await panel.evaluate((d) => d.open))) await panel.locator('summary').click();
  await expectVisible(page.locator('#transcript li').first());
  await checkPage(page, 'meeting');

  // A call recorded at Fathom while nobody was looking arrives with Sync now.
  const newTitle = `Pricing follow-up with Globex ${uniqueTag()}`;
  const recorded = await fetch(`${fathomSimUrl}/__sim/meetings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      api_key: FATHOM.key,
      deliver: false,
      title: newTitle,
      invitees: [{ name: 'Hank Scorpio', email: 'hank.scorpio@globex.io' }],
    }),
  });
  assert.equal(recorded.status, 201, await recorded.text());
  await page.goto(`/o/${slug}/integrations`);
  await page.getByRole('button', { name: `Sync now ${FATHOM.email}` }).click();
  await expectVisible(page.getByRole('heading', { level: 1, name: /Sync of alice\.johnson@acme\.com/ }));
  await expectText(page.locator('.sync-run .run-state'), 'Succeeded');
  await checkPage(page, 'sync-run');
  await page.goto(customerUrl);
  await eventually(page, async () => (await page.locator('#customer-meetings').getByRole('link', { name: newTitle }).count()) === 1, 'the new call on the customer page');
  const after = Number((await page.locator('#meetings-total').textContent()).replaceAll(',', ''));
  assert.equal(after, total + 1, 'the dashboard counts the new call');
});

journey('manual decisions survive Sync now and a re-match after a customer edit', async ({ newPage }) => {
  const { page, slug } = await connectedOrg(newPage);
  await openCustomer(page, slug, 'Globex');
  const meetingLink = page.locator('#customer-meetings > li').first().getByRole('link').first();
  const title = (await meetingLink.textContent()).trim();
  await meetingLink.click();
  await expectVisible(page.getByRole('heading', { level: 1, name: title }));
  const meetingUrl = page.url();

  // Unlink Globex, link Initech instead (htmx swaps the block in place). A call with Globex may also
  // have had another customer's people on it, so other links may stay.
  await page.getByRole('button', { name: 'Unlink Globex' }).click();
  await page.getByRole('button', { name: 'Unlink Globex' }).waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#linked-customers').getByRole('link', { name: 'Globex' }).count(), 0, 'Globex unlinked');
  await page.getByLabel('Customer to link').selectOption({ label: 'Initech' });
  await page.getByRole('button', { name: 'Link', exact: true }).click();
  await expectVisible(page.locator('#linked-customers').getByRole('link', { name: 'Initech' }));
  await expectText(page.locator('#linked-customers'), 'linked by hand');

  const checkDecisions = async (after) => {
    await page.goto(meetingUrl);
    const linked = page.locator('#linked-customers');
    await expectVisible(linked.getByRole('link', { name: 'Initech' }), `Initech still linked after ${after}`);
    assert.equal(await linked.getByRole('link', { name: 'Globex' }).count(), 0, `Globex still unlinked after ${after}`);
  };

  await page.goto(`/o/${slug}/integrations`);
  await page.getByRole('button', { name: `Sync now ${SHARED_FATHOM.email}` }).click();
  await expectText(page.locator('.sync-run .run-state'), 'Succeeded');
  await checkDecisions('Sync now');

  // A customer edit (a new domain on Globex) re-matches every meeting of the org.
  await openCustomer(page, slug, 'Globex');
  await page.getByRole('textbox', { name: 'Domain' }).fill(`globex-${uniqueTag()}.example`);
  await page.getByRole('button', { name: 'Add domain' }).click();
  await expectVisible(page.getByRole('status'));
  await page.waitForTimeout(3_000);
  await checkDecisions('a re-match');
});

journey('the unmatched review: a suggestion becomes a customer and its meetings move to it', async ({ newPage }) => {
  const { page, slug } = await connectedOrg(newPage);
  await page.goto(`/o/${slug}/`);
  await page.getByRole('link', { name: 'review', exact: true }).click();
  await expectPath(page, `/o/${slug}/customers/unmatched`);
  await checkPage(page, 'unmatched');
  const suggestion = page.locator('#suggestions tbody tr').first();
  await expectVisible(suggestion);
  const domain = await suggestion.getAttribute('data-domain');
  const meetings = Number((await suggestion.locator('td').nth(1).textContent()).replaceAll(',', ''));
  const name = `Suggested ${uniqueTag()}`;
  await suggestion.getByLabel(`Name for ${domain}`).fill(name);
  await suggestion.getByRole('button', { name: 'Create' }).click();
  await expectVisible(page.getByRole('status'));
  assert.equal(await page.locator(`#suggestions tr[data-domain="${domain}"]`).count(), 0, 'the suggestion is gone');

  await openCustomer(page, slug, name);
  // Every unmatched meeting the suggestion counted moves to it (meetings already with another customer
  // and this domain are linked too, so there can be more).
  await eventually(page, async () => (await page.locator('#customer-meetings > li').count()) >= Math.min(meetings, 50), `${meetings} meetings on ${name}`);
  await expectText(page.locator('#domains'), domain);
});

journey('search a phrase said in a transcript and land on that line', async ({ newPage }) => {
  const { page, slug } = await connectedOrg(newPage);
  // Take a phrase from a real transcript line of a meeting, then search for it.
  await page.goto(`/o/${slug}/meetings`);
  await page.locator('#meetings tbody tr a').first().click();
  const line = page.locator('#transcript li').nth(3);
  const said = (await line.evaluate((li) => li.lastChild.textContent)).replace(/^:\s*/, '').trim();
  const phrase = said.split(/\s+/).slice(0, 4).join(' ').replace(/[^\p{L}\p{N}' ]/gu, '');

  await nav(page).getByRole('link', { name: 'Search' }).click();
  await page.getByLabel('Search meetings').fill(`"${phrase}"`);
  await page.getByRole('button', { name: 'Search' }).click();
  await expectVisible(page.locator('#search-results > li').first());
  await expectVisible(page.locator('#search-results mark').first());
  await checkPage(page, 'search');
  const hit = page.locator('#search-results > li').first().getByRole('link').first();
  assert.match(await hit.getAttribute('href'), /#line-\d+$/);
  await hit.click();
  const target = page.locator('#transcript li:target');
  await expectVisible(target, 'the transcript opens at the matching line');
  assert.ok((await target.textContent()).toLowerCase().includes(phrase.split(' ')[0].toLowerCase()));
  assert.ok(await page.locator('#transcript-panel').evaluate((d) => d.open), 'the transcript panel is open');
});

journey('a teammate sees the same customers, no admin actions, and is refused admin posts', async ({ newPage }) => {
  const { page: owner, slug } = await connectedOrg(newPage);
  await nav(owner).getByRole('link', { name: 'Members' }).click();
  await checkPage(owner, 'members');
  await owner.getByLabel('Role for the new member').selectOption({ label: 'Member' });
  await owner.getByRole('button', { name: 'Create invite link' }).click();
  const inviteUrl = await owner.getByRole('textbox', { name: 'Invite link' }).inputValue();
  await owner.goto(`/o/${slug}/customers`);
  const ownerCustomers = await owner.locator('#customers tbody tr a').allTextContents();

  const member = await newPage();
  const joan = newPerson('Joan');
  await member.goto(inviteUrl);
  await checkPage(member, 'invite');
  await member.getByLabel('Your name').fill(joan.name);
  await member.getByLabel('Work email').fill(joan.email);
  await member.getByLabel('Password', { exact: true }).fill(joan.password);
  await member.getByRole('button', { name: 'Create account and join' }).click();
  await expectPath(member, `/o/${slug}/`);

  await member.goto(`/o/${slug}/customers`);
  assert.deepEqual(await member.locator('#customers tbody tr a').allTextContents(), ownerCustomers);

  await nav(member).getByRole('link', { name: 'Integrations' }).click();
  await expectVisible(member.getByRole('heading', { level: 1, name: 'Integrations' }));
  for (const name of ['Connect Fathom', 'Connect HubSpot', 'Connect Salesforce', /^Disconnect/]) {
    assert.equal(await member.getByRole('button', { name }).count(), 0, `no ${name} button for a member`);
    assert.equal(await member.getByRole('link', { name }).count(), 0, `no ${name} link for a member`);
  }
  assert.equal(await nav(member).getByRole('link', { name: 'Audit log' }).count(), 0);

  // Posting an admin action anyway (with a valid CSRF token of the member's own session) is refused.
  const csrf = await member.locator('meta[name="csrf-token"]').getAttribute('content');
  const connectionId = await member.locator('#fathom-connections tr[data-connection]').first().getAttribute('data-connection');
  for (const action of [`/o/${slug}/integrations/fathom/connections/${connectionId}/disconnect`, `/o/${slug}/integrations/hubspot/connect`]) {
    const res = await member.request.post(action, { form: { csrf_token: csrf }, maxRedirects: 0 });
    assert.ok([403, 404].includes(res.status()), `${action} answered ${res.status()}`);
  }
  await owner.goto(`/o/${slug}/integrations`);
  await expectVisible(owner.getByRole('row', { name: new RegExp(SHARED_FATHOM.email.replace('.', '\\.')) }).getByText('Active'));
});

journey('a person of another org opening the first org\'s pages gets the 404 page', async ({ newPage }) => {
  const { page: owner, slug } = await connectedOrg(newPage);
  await openCustomer(owner, slug, 'Globex');
  const customerPath = new URL(owner.url()).pathname;
  await owner.locator('#customer-meetings > li').first().getByRole('link').first().click();
  const meetingPath = new URL(owner.url()).pathname;

  const stranger = await newPage();
  const strangerSlug = await signUp(stranger, newPerson('Mallory', 'Other Co'));
  for (const p of [`/o/${slug}/`, customerPath, meetingPath, `/o/${slug}/integrations`, `/o/${strangerSlug}${customerPath.slice(`/o/${slug}`.length)}`]) {
    const response = await stranger.goto(p);
    assert.equal(response.status(), 404, `${p} answered ${response.status()}`);
    await expectVisible(stranger.getByRole('heading', { level: 1, name: 'Page not found' }));
  }
  await checkPage(stranger, 'not-found');
});

journey('key pages fit a 375 px phone and the menu opens from a button', async ({ newPage }) => {
  const { page, slug } = await connectedOrg(newPage, PHONE);
  await page.goto(`/o/${slug}/`);
  const menu = page.getByRole('button', { name: 'Menu' });
  await expectVisible(menu);
  assert.equal(await menu.getAttribute('aria-expanded'), 'false');
  assert.equal(await nav(page).getByRole('link', { name: 'Customers' }).isVisible(), false);
  await menu.click();
  assert.equal(await menu.getAttribute('aria-expanded'), 'true');
  await nav(page).getByRole('link', { name: 'Customers' }).click();
  await expectPath(page, `/o/${slug}/customers`);
  await checkPage(page, 'phone-customers');

  await page.goto(`/o/${slug}/`);
  await checkPage(page, 'phone-org-home');
  await page.goto(`/o/${slug}/integrations`);
  await checkPage(page, 'phone-integrations');
  await openCustomer(page, slug, 'Globex');
  await checkPage(page, 'phone-customer');
  await page.locator('#customer-meetings > li').first().getByRole('link').first().click();
  await checkPage(page, 'phone-meeting');
  await page.goto(`/o/${slug}/meetings`);
  await checkPage(page, 'phone-meetings');
  await page.goto(`/o/${slug}/customers/unmatched`);
  await checkPage(page, 'phone-unmatched');
  await page.goto(`/o/${slug}/search?q=pricing`);
  await checkPage(page, 'phone-search');
  await page.goto(`/o/${slug}/members`);
  await checkPage(page, 'phone-members');
});
