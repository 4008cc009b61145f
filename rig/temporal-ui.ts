/**
 * Drives the real Temporal Web UI the way a person does: open an incident, read its metadata tab,
 * and send a signal through More Actions → Send a Signal.
 */
import type { Page } from 'playwright-core';

export async function openWorkflow(
  page: Page,
  uiUrl: string,
  workflowId: string,
  namespace = 'default',
): Promise<void> {
  await page.goto(`${uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}`);
  await page.getByRole('tab', { name: 'User Metadata' }).waitFor({ timeout: 30_000 });
}

/** The Summary, Details and Current Details panels, as text. */
export async function readUserMetadata(page: Page): Promise<string> {
  await page.getByRole('tab', { name: 'User Metadata' }).click();
  await page.getByText('Current Details').first().waitFor({ timeout: 15_000 });
  // The UI renders each Markdown panel in its own sandboxed iframe, after the metadata query answers.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const texts = await Promise.all(
      page.frames().map((f) =>
        f
          .locator('body')
          .innerText()
          .catch(() => ''),
      ),
    );
    const all = texts.join('\n');
    if (/MTTR/.test(all) || Date.now() > deadline) return all;
    await page.waitForTimeout(250);
  }
}

export async function sendSignalThroughUi(page: Page, signalName: string, json: unknown): Promise<void> {
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: /Send a Signal/ }).click();
  const dialog = page.locator('dialog#signal-confirmation-modal[open]');
  await dialog.getByRole('button', { name: 'Select a signal' }).click();
  // The list is filled once a worker answers the workflow's metadata query.
  await dialog
    .locator('li[role="option"]:visible', { hasText: new RegExp(`^\\s*${signalName}\\b`) })
    .first()
    .click();
  const editor = dialog.locator('[role="textbox"][aria-label="Data"]');
  await editor.click();
  // The dialog keeps the last payload sent: replace it, as a person would.
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(JSON.stringify(json));
  // Move focus out of the editor first: it reformats on blur and the dialog grows, which would
  // swallow a click aimed at Submit.
  await editor.evaluate((el) => (el as { blur(): void }).blur());
  await dialog.locator('h3', { hasText: 'Send a Signal' }).click();
  await page.waitForTimeout(300);
  const submit = dialog.getByTestId('confirm-modal-button');
  await submit.waitFor({ state: 'visible' });
  await submit.click();
  // The UI closes the dialog once its POST returns; when the signal ends the workflow the UI can
  // keep spinning while it reloads, so the caller asserts on the workflow, not on the dialog.
  await dialog.waitFor({ state: 'hidden', timeout: 10_000 }).catch(async () => {
    await page.screenshot({ path: 'test-artifacts/ui/signal-dialog-after-submit.png' });
    const text = await dialog.innerText().catch(() => '');
    if (/Input must be valid JSON|error/i.test(text))
      throw new Error(`Send a Signal refused the input: ${text}`);
  });
}
