// Drive v2m's web page in headless Chromium as a person would: a wrong
// password, then log in, set some options, pick a video, convert it, wait
// for the job to be done and download the MP3 by its signed link; open the
// job's own address (?job=, as a mail links it) in a fresh tab, log in and
// find that job with its link; see a refused option and a refused delete
// shown with the server's words. Prints {"name", "path", "href", "fields"}.
//   node page.mjs URL VIDEO EMAIL PASSWORD SCREENSHOT.png   (the MP3 is saved beside it)
import { chromium } from "playwright-core";

const [url, video, email, password, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const check = (cond, what) => { if (!cond) throw new Error(what); };
const errors = [];

async function login(page, wrongFirst) {
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.fill("#email", email);
  if (wrongFirst) {
    await page.fill("#password", "not-the-password");
    await page.click("#login-btn");
    await page.waitForFunction(() =>
      document.getElementById("login-msg").textContent.includes("invalid credentials"));
  }
  await page.fill("#password", password);
  await page.click("#login-btn");
  await page.waitForSelector("#app:not([hidden])");
}

try {
  const context = await browser.newContext({ acceptDownloads: true });
  // What the page sends with the upload: tus's Upload-Metadata, decoded.
  await context.addInitScript(() => {
    const setHeader = XMLHttpRequest.prototype.setRequestHeader;
    XMLHttpRequest.prototype.setRequestHeader = function (k, v) {
      if (k.toLowerCase() === "upload-metadata") {
        const utf8 = (b) => new TextDecoder().decode(Uint8Array.from(atob(b), (c) => c.charCodeAt(0)));
        window.sentFields = Object.fromEntries(v.split(",").map((kv) => {
          const [name, val] = kv.split(" "); return [name, val ? utf8(val) : ""];
        }));
      }
      return setHeader.call(this, k, v);
    };
  });
  const page = await context.newPage();
  await page.goto(url);
  await login(page, true);

  // Options: sent as metadata of their names with the file's name; empty ones left out.
  await page.click("#options summary");
  await page.selectOption("select[name=quality]", "2");
  await page.selectOption("select[name=channels]", "1");
  await page.fill("input[name=normalize]", "-14");
  await page.selectOption("select[name=cover]", "none");
  await page.fill("input[name=title]", "Sine ☃ test");
  await page.setInputFiles("#file", video);
  await page.click("#upload-btn");
  await page.waitForFunction(() => window.sentFields);
  const sent = await page.evaluate(() => window.sentFields);
  const want = { quality: "2", channels: "1", normalize: "-14", cover: "none", title: "Sine ☃ test",
                 filename: video.split("/").pop() };
  const options = ["quality", "bitrate", "rate", "channels", "start", "end", "track", "normalize", "cover",
                   "title", "artist", "album"];
  check(Object.entries(want).every(([k, v]) => sent[k] === v) &&
        options.every((k) => k in want || !(k in sent)), "fields sent: " + JSON.stringify(sent));
  await page.waitForSelector("#upload-msg.ok");

  // The signed link of the done job downloads the MP3 under the video's name.
  const link = await page.waitForSelector("#jobs a.download", { timeout: 120000 });
  const href = await link.getAttribute("href");
  check(/^\/d\/[0-9a-f]{24}\?e=\d+&s=[A-Za-z0-9_-]{43}$/.test(href), "download link " + href);
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  const path = shot.replace(/\.png$/, "") + ".download";
  await download.saveAs(path);
  const fid = await page.$eval("#jobs tr", (tr) => tr.dataset.fid);

  // A refused option: the gateway's 400 text is shown as it is.
  const uploads = (u) => u.pathname === "/upload" || u.pathname.startsWith("/files");
  await page.route(uploads, (route) => (route.request().method() === "POST"
    ? route.fulfill({ status: 400, contentType: "text/plain", body: "bitrate: must be 8 to 320 kbit/s, e.g. 192 or 192k\n" })
    : route.continue()));
  await page.setInputFiles("#file", video);
  await page.click("#upload-btn");
  await page.waitForFunction(() => document.getElementById("upload-msg").textContent.includes("bitrate: must be 8 to 320"));
  check(await page.$eval("#upload-msg", (e) => e.className) === "err", "400 not shown as an error");
  await page.unroute(uploads);

  // Delete asks, calls DELETE /jobs/<fid>, and shows a refusal's text.
  page.on("dialog", (d) => d.accept());
  let deleted = null;
  await page.route("**/jobs/" + fid, (route) => {
    if (route.request().method() !== "DELETE") return route.continue();
    deleted = route.request().url();
    return route.fulfill({ status: 409, contentType: "text/plain", body: "the job is converting, try again when it ends\n" });
  });
  await page.click(`#jobs tr[data-fid="${fid}"] button.delete`);
  await page.waitForFunction(() => document.getElementById("job-msg").textContent.includes("(409)"));
  check(deleted && deleted.endsWith("/jobs/" + fid), "no DELETE sent");
  await page.screenshot({ path: shot, fullPage: true });

  // The job's own address, as a mail links it, in a new tab: after login, that job.
  const tab = await context.newPage();
  await tab.goto(url + "/?job=" + fid);
  await login(tab, false);
  const focused = await tab.waitForSelector("#focus:not([hidden]) a.download");
  check(await tab.$eval("#focus tr", (tr) => tr.dataset.fid) === fid, "?job= shows another job");
  check((await focused.getAttribute("href")).startsWith("/d/"), "no signed link in the job view");
  await tab.goto(url + "/?job=" + "0".repeat(24));
  await tab.waitForFunction(() => document.getElementById("focus-msg").textContent.includes("no such job"));

  if (errors.length) throw new Error("errors in the page: " + errors.join("; "));
  console.log(JSON.stringify({ name: download.suggestedFilename(), path, href, fields: sent }));
} finally {
  await browser.close();
}
