// Drive v2m's web page in headless Chromium as a person would: a wrong
// password, then log in, pick a video, convert it, wait for the job to be
// done and download the MP3. Prints {"name": ..., "path": ...} of the download.
//   node page.mjs URL VIDEO EMAIL PASSWORD SCREENSHOT.png   (the MP3 is saved beside it)
import { chromium } from "playwright-core";

const [url, video, email, password, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ acceptDownloads: true });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.fill("#email", email);
  await page.fill("#password", "not-the-password");
  await page.click("#login-btn");
  await page.waitForFunction(() =>
    document.getElementById("login-msg").textContent.includes("invalid credentials"));
  await page.fill("#password", password);
  await page.click("#login-btn");
  await page.waitForSelector("#app:not([hidden])");
  await page.setInputFiles("#file", video);
  await page.click("#upload-btn");
  await page.waitForSelector("#upload-msg.ok");
  const button = await page.waitForSelector("button.download", { timeout: 120000 });
  const [download] = await Promise.all([page.waitForEvent("download"), button.click()]);
  const path = shot.replace(/\.png$/, "") + ".download";
  await download.saveAs(path);
  await page.screenshot({ path: shot, fullPage: true });
  if (errors.length) throw new Error("errors in the page: " + errors.join("; "));
  console.log(JSON.stringify({ name: download.suggestedFilename(), path }));
} finally {
  await browser.close();
}
