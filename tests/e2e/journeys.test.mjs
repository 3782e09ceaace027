// Journeys a real person takes through Debrief, driven in Chromium with accessible locators only.
// One app + database serves the whole file (see harness.mjs); each journey uses fresh browser contexts and
// its own accounts, so journeys do not depend on each other's data.

import assert from 'node:assert/strict';
import path from 'node:path';

import { PHONE, checkPage, expectPath, expectText, expectVisible, journey, resultsDir, uniqueTag, useStack, ORG_HOME, signUp } from './harness.mjs';

useStack();

const PASSWORD = 'correct horse battery';

/** A person who has not signed up yet; names and emails are unique per journey and run. */
function newPerson(first, orgName) {
  const tag = uniqueTag();
  return {
    name: `${first} ${tag}`,
    email: `${first.toLowerCase()}.${tag}@example.com`,
    password: PASSWORD,
    orgName: orgName && `${orgName} ${tag}`,
  };
}


/** Opens the organisation switcher in the nav and returns the list inside it. */
async function openSwitcher(page) {
  const nav = page.getByRole('navigation', { name: 'Main' });
  const switcher = nav.locator('#org-switcher');
  await switcher.locator('summary').click();
  const menu = switcher.getByRole('list');
  await expectVisible(menu, 'org switcher did not open');
  return menu;
}

journey('sign up, log out and log back in to the org home', async ({ newPage }) => {
  const page = await newPage();
  const ada = newPerson('Ada', 'Analytical Engines');

  await page.goto('/');
  // Pico's button-styled links carry role="button", so the accessibility tree exposes a button here.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('button', { name: 'Sign up' }).click();
  await expectPath(page, '/signup');
  await checkPage(page, 'signup');
  const slug = await signUp(page, ada);
  await expectText(page.getByRole('status'), `Welcome to Debrief! ${ada.orgName} is ready.`);

  await page.screenshot({ path: path.join(resultsDir, 'org-home.png'), fullPage: true });

  await page.getByRole('button', { name: `Log out ${ada.name}` }).click();
  await expectPath(page, '/login?signed_out=1');
  await expectText(page.getByRole('status'), 'You have logged out.');

  // The org is private once signed out: the browser is sent back to log in.
  await page.goto(`/o/${slug}/`);
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Log in to Debrief' }));

  await page.goto('/login');
  await page.getByLabel('Email', { exact: true }).fill(ada.email);
  await page.getByLabel('Password', { exact: true }).fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expectText(page.getByRole('alert'), 'That email and password do not match an account.');
  await checkPage(page, 'login-failed');
  assert.equal(new URL(page.url()).pathname, '/login');

  await page.getByLabel('Email', { exact: true }).fill(ada.email);
  await page.getByLabel('Password', { exact: true }).fill(ada.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expectPath(page, `/o/${slug}/`);
  await expectVisible(page.getByRole('heading', { level: 1, name: ada.orgName }));
  await expectVisible(page.getByRole('button', { name: `Log out ${ada.name}` }));
});

journey('owner creates a second organisation and switches between the two', async ({ newPage }) => {
  const page = await newPage();
  const grace = newPerson('Grace', 'Compilers');
  const firstSlug = await signUp(page, grace);
  const secondName = `Navy Labs ${uniqueTag()}`;

  let menu = await openSwitcher(page);
  await menu.getByRole('link', { name: 'New organisation…' }).click();
  await expectPath(page, '/orgs/new');
  await page.getByLabel('Organisation name').fill(secondName);
  await page.getByRole('button', { name: 'Create organisation' }).click();
  await expectPath(page, ORG_HOME);
  await expectVisible(page.getByRole('heading', { level: 1, name: secondName }));
  await expectText(page.getByRole('status'), `${secondName} is ready.`);
  const secondSlug = new URL(page.url()).pathname.split('/')[2];
  assert.notEqual(secondSlug, firstSlug);

  // The switcher lists both organisations, marking the current one.
  menu = await openSwitcher(page);
  await expectVisible(menu.getByRole('link', { name: grace.orgName }));
  const current = menu.getByRole('link', { name: secondName });
  assert.equal(await current.getAttribute('aria-current'), 'true');

  await menu.getByRole('link', { name: grace.orgName }).click();
  await expectPath(page, `/o/${firstSlug}/`);
  await expectVisible(page.getByRole('heading', { level: 1, name: grace.orgName }));

  menu = await openSwitcher(page);
  await menu.getByRole('link', { name: secondName }).click();
  await expectPath(page, `/o/${secondSlug}/`);
  await expectVisible(page.getByRole('heading', { level: 1, name: secondName }));
});

journey('owner invites a teammate who signs up through the link', async ({ newPage }) => {
  const owner = await newPage();
  const alan = newPerson('Alan', 'Bletchley');
  const slug = await signUp(owner, alan);

  await owner.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Members' }).click();
  await expectPath(owner, `/o/${slug}/members`);
  await expectVisible(owner.getByRole('heading', { level: 1, name: 'Members' }));
  await owner.getByLabel('Role for the new member').selectOption({ label: 'Member' });
  await owner.getByRole('button', { name: 'Create invite link' }).click();
  const linkField = owner.getByRole('textbox', { name: 'Invite link' });
  await expectVisible(linkField);
  const inviteUrl = await linkField.inputValue();
  assert.match(inviteUrl, /^http:\/\/127\.0\.0\.1:\d+\/invites\/\S+$/);

  // The invitee uses a different browser: no cookies shared with the owner.
  const invitee = await newPage();
  const joan = newPerson('Joan');
  await invitee.goto(inviteUrl);
  await expectVisible(invitee.getByRole('heading', { level: 1, name: `Join ${alan.orgName}` }));
  await invitee.getByLabel('Your name').fill(joan.name);
  await invitee.getByLabel('Work email').fill(joan.email);
  await invitee.getByLabel('Password', { exact: true }).fill(joan.password);
  await invitee.getByRole('button', { name: 'Create account and join' }).click();
  await expectPath(invitee, `/o/${slug}/`);
  await expectVisible(invitee.getByRole('heading', { level: 1, name: alan.orgName }));
  await expectVisible(invitee.getByRole('button', { name: `Log out ${joan.name}` }));

  await owner.reload();
  const row = owner.getByRole('row').filter({ hasText: joan.email });
  await expectVisible(row, 'the newcomer is not listed on the Members page');
  await expectText(row, joan.name);
});

journey('sign-up with a short password stays on the form with a field message', async ({ newPage }) => {
  const page = await newPage();
  const eve = newPerson('Eve', 'Shortcuts');

  await page.goto('/signup');
  await page.getByLabel('Your name').fill(eve.name);
  await page.getByLabel('Work email').fill(eve.email);
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByLabel('Organisation name').fill(eve.orgName);
  await page.getByRole('button', { name: 'Create account' }).click();

  const message = page.getByText('Use at least 10 characters for your password.');
  await expectVisible(message);
  // The message belongs to the password field: screen readers announce it with the field.
  const password = page.getByLabel('Password', { exact: true });
  assert.equal(await password.getAttribute('aria-invalid'), 'true');
  const describedBy = (await password.getAttribute('aria-describedby')).split(/\s+/);
  assert.ok(describedBy.includes(await message.getAttribute('id')), `aria-describedby=${describedBy}`);
  assert.equal(new URL(page.url()).pathname, '/signup');
  await expectVisible(page.getByRole('heading', { level: 1, name: 'Create your Debrief account' }));
  // What the person typed is kept (except the password) so they only fix the one field.
  assert.equal(await page.getByLabel('Your name').inputValue(), eve.name);
  assert.equal(await page.getByLabel('Work email').inputValue(), eve.email);
  assert.equal(await page.getByLabel('Organisation name').inputValue(), eve.orgName);
});

journey('sign-up and log-in pages fit a 375 px phone', async ({ newPage }) => {
  const page = await newPage(PHONE);
  await page.goto('/');
  await checkPage(page, 'phone-start');
  await page.goto('/signup');
  await checkPage(page, 'phone-signup');
  await page.goto('/login');
  await checkPage(page, 'phone-login');
});
