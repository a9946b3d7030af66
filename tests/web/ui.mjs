// v2m's web page in headless Chromium, as people without a mouse or on a
// phone use it: log in, choose options and upload by keyboard only, reach the
// Download link and press Enter while the table keeps polling (focus stays);
// several files at once, each with its own progress and its own error; the
// server gone (a message, the table marked stale, an upload tried again); a
// session that has expired; a 375 px wide screen without sideways scrolling;
// the icon; uploads through tus (the script and its licence served by the
// gateway), and a large upload cut partway, the page reloaded, the same file
// chosen again and carried on from the server's offset to a downloadable MP3.
// Screenshots go into OUTDIR. Prints {"screenshots", "downloads",
// "max_parallel", "resume"} on its last line.
//   node ui.mjs URL EMAIL PASSWORD OUTDIR VIDEO LONGNAME_VIDEO SILENT_VIDEO NOT_A_VIDEO TOO_LARGE LARGE_VIDEO
import { chromium } from "playwright-core";
import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";

const [url, email, password, outdir, video, longVideo, silent, bad, huge, large] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const check = (cond, what) => { if (!cond) throw new Error(what); };
const errors = [];
const screenshots = [];
const step = (what) => process.stderr.write("ui: " + what + "\n");
async function shot(page, name) {
  const path = outdir + "/" + name + ".png";
  await page.screenshot({ path, fullPage: true });
  screenshots.push(path);
  step("screenshot " + path);
}

function watch(page) {
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => { if (r.status() === 404) errors.push("404 " + r.url()); });
}

// Counts the upload requests in flight (tus's to /files/, or POST /upload),
// the most at once, and the fields of each upload: tus's Upload-Metadata
// decoded, or the form's fields.
async function instrument(context) {
  await context.addInitScript(() => {
    window.inflight = 0; window.maxInflight = 0; window.sent = [];
    const open = XMLHttpRequest.prototype.open;
    XMLHttpRequest.prototype.open = function (method, u) {
      this.v2m = { method, path: new URL(u, location.href).pathname };
      return open.apply(this, arguments);
    };
    const setHeader = XMLHttpRequest.prototype.setRequestHeader;
    XMLHttpRequest.prototype.setRequestHeader = function (k, v) {
      if (k.toLowerCase() === "upload-metadata") this.v2m.meta = v;
      return setHeader.call(this, k, v);
    };
    const send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function (body) {
      const tus = this.v2m && this.v2m.path.startsWith("/files");
      if (tus && this.v2m.method === "POST" && this.v2m.meta) {
        const utf8 = (b) => new TextDecoder().decode(Uint8Array.from(atob(b), (c) => c.charCodeAt(0)));
        window.sent.push(Object.fromEntries(this.v2m.meta.split(",").map((kv) => {
          const [k, v] = kv.split(" "); return [k, v ? utf8(v) : ""];
        })));
      }
      if (body instanceof FormData)
        window.sent.push(Object.fromEntries([...body.entries()].map(([k, v]) => [k, typeof v === "string" ? v : "file:" + v.name])));
      if (body instanceof FormData || (tus && this.v2m.method !== "HEAD")) {
        window.inflight++; window.maxInflight = Math.max(window.maxInflight, window.inflight);
        // readystatechange (done) comes before loadend, where the page starts the next one.
        this.addEventListener("readystatechange", () => { if (this.readyState === 4) window.inflight--; });
      }
      return send.call(this, body);
    };
  });
}

// Tab (or Shift+Tab) until the focused element matches sel.
async function tabTo(page, sel, back) {
  for (let i = 0; i < 80; i++) {
    if (await page.evaluate((s) => document.activeElement && document.activeElement.matches(s), sel)) return;
    await page.keyboard.press(back ? "Shift+Tab" : "Tab");
  }
  throw new Error("cannot reach " + sel + " with the keyboard");
}

const focusedIs = (page, sel) =>
  page.evaluate((s) => !!document.activeElement && document.activeElement.matches(s), sel);

async function login(page) {
  await page.fill("#email", email);
  await page.fill("#password", password);
  await page.click("#login-btn");
  await page.waitForSelector("#app:not([hidden])");
}

let downloads = 0;
let resume = null;
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1024, height: 800 } });
  await instrument(context);
  const page = await context.newPage();
  watch(page);
  await page.goto(url);

  // The icon: linked, served, allowed by the page's policy.
  step("icon");
  check(await page.$eval("link[rel=icon]", (l) => l.getAttribute("href")) === "/favicon.svg", "no icon link");
  const icon = await page.evaluate(async () => {
    const r = await fetch("/favicon.svg");
    return [r.status, r.headers.get("content-type")];
  });
  check(icon[0] === 200 && icon[1] === "image/svg+xml", "icon: " + icon);
  check(await page.evaluate(() => new Promise((ok) => {
    const i = new Image(); i.onload = () => ok(i.naturalWidth > 0); i.onerror = () => ok(false); i.src = "/favicon.svg";
  })), "the icon does not load under the page's policy");

  // tus-js-client: served by the gateway, allowed by the page's policy, loaded;
  // its licence served and linked from the footer.
  step("tus-js-client");
  check(await page.evaluate(() => !!window.tus && window.tus.isSupported), "tus-js-client is not loaded");
  const served = await page.evaluate(async () => {
    const out = {};
    for (const p of ["/static/tus.min.js", "/static/tus-js-client-LICENSE.txt"]) {
      const r = await fetch(p);
      out[p] = [r.status, r.headers.get("content-type"), (await r.text()).slice(0, 200)];
    }
    return out;
  });
  check(served["/static/tus.min.js"][0] === 200 && served["/static/tus.min.js"][1] === "text/javascript; charset=utf-8" &&
        served["/static/tus.min.js"][2].startsWith("/*! tus-js-client "), "the script: " + JSON.stringify(served));
  check(served["/static/tus-js-client-LICENSE.txt"][0] === 200 &&
        served["/static/tus-js-client-LICENSE.txt"][1] === "text/plain; charset=utf-8" &&
        served["/static/tus-js-client-LICENSE.txt"][2].includes("MIT License"), "the licence: " + JSON.stringify(served));
  check(await page.$eval("footer a", (a) => a.getAttribute("href")) === "/static/tus-js-client-LICENSE.txt", "no licence link");

  // Every input has its label.
  const unlabelled = await page.$$eval("input:not([type=hidden]), select", (els) =>
    els.filter((e) => !e.labels || !e.labels.length).map((e) => e.id || e.name));
  check(unlabelled.length === 0, "inputs without a label: " + unlabelled);

  // Log in by keyboard: Tab to the email, type, Tab, type, Enter.
  step("keyboard login");
  await tabTo(page, "#email");
  await page.keyboard.type(email);
  await page.keyboard.press("Tab");
  check(await focusedIs(page, "#password"), "Tab from email does not reach the password");
  await page.keyboard.type(password);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#app:not([hidden])");

  // Options by keyboard: open the panel with Enter, pick a channel count.
  step("keyboard options");
  await tabTo(page, "#options summary");
  await page.keyboard.press("Enter");
  check(await page.$eval("#options", (d) => d.open), "Enter does not open the options");
  await tabTo(page, "#o-channels");
  await page.keyboard.press("ArrowDown");
  check(await page.$eval("#o-channels", (s) => s.value) === "1", "ArrowDown does not choose mono");
  await tabTo(page, "#o-title");
  await page.keyboard.type("Keyboard");

  // The file input by keyboard: Space opens the chooser; then the button, by Enter.
  step("keyboard upload");
  await tabTo(page, "#file", true);
  // Headless Chromium now and then drops a chooser, even the input's own: Space again then.
  let chooser;
  for (let i = 0; !chooser && i < 3; i++)
    [chooser] = await Promise.all([page.waitForEvent("filechooser", { timeout: 5000 }).catch(() => null),
                                   page.keyboard.press("Space")]);
  check(chooser, "Space on the file input opens no chooser");
  check(chooser.isMultiple(), "the file input takes one file only");
  await chooser.setFiles(video);
  await page.keyboard.press("Tab");
  check(await focusedIs(page, "#upload-btn"), "Tab from the file input does not reach the button");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#uploads li.done");
  const fields = await page.evaluate(() => window.sent[0]);
  check(JSON.stringify(fields) === JSON.stringify({ filename: basename(video), filetype: "video/mp4", channels: "1", title: "Keyboard" }),
        "fields sent: " + JSON.stringify(fields));
  check(await page.$eval("#uploads li.done", (li) => li.dataset.transport === "tus" && /^[0-9a-f]{24}$/.test(li.dataset.fid)),
        "the upload did not go by tus, or its video fid (V2M-Video-Fid) was not read");
  check((await page.textContent("#uploads li.done .pct")).trim() === "100 %", "the upload's row does not say 100 %");
  await page.waitForSelector("#jobs a.download", { timeout: 120000 });

  // While the focus is on Download, the table keeps changing: another job
  // moves on at every poll (added to the real answer).
  step("focus across polls");
  let polls = 0;
  await page.route("**/jobs?limit=50", async (route) => {
    const r = await route.fetch();
    const jobs = await r.json();
    polls++;
    jobs.unshift({ video_fid: "f".repeat(24), status: "converting", progress: Math.min(0.99, polls / 20),
                   mp3_fid: null, error: null, filename: "moving.mp4", size: 5 * 1024 * 1024,
                   attempts: 1, options: {}, created_at: new Date().toISOString(), download_url: null });
    await route.fulfill({ response: r, json: jobs });
  });
  await page.waitForSelector(`#jobs tr[data-fid="${"f".repeat(24)}"]`);
  await tabTo(page, "#jobs a.download");
  const link = await page.evaluateHandle(() => document.activeElement);
  for (let round = 0; round < 2; round++) {
    const before = polls;
    const pctBefore = await page.textContent(`#jobs tr[data-fid="${"f".repeat(24)}"] .pct`);
    for (let i = 0; i < 100 && polls < before + 2; i++) await page.waitForTimeout(100);
    check(polls >= before + 2, "the table is not polled");
    await page.waitForTimeout(300);
    const pctAfter = await page.textContent(`#jobs tr[data-fid="${"f".repeat(24)}"] .pct`);
    check(pctAfter !== pctBefore, "the other job's progress was not redrawn: " + pctAfter);
    check(await page.evaluate((a) => document.activeElement === a && a.isConnected, link),
          "the focus left Download after the table was polled");
    const [download] = await Promise.all([page.waitForEvent("download"), page.keyboard.press("Enter")]);
    check(download.suggestedFilename() === "video.mp3", "download named " + download.suggestedFilename());
    downloads++;
  }
  check(/^\d+(\.\d)? (bytes|KB|MB)$/.test(await page.textContent("#jobs tr:not([data-fid^=fff]) td:nth-child(4)")),
        "the size is not human");
  check(await page.textContent(`#jobs tr[data-fid="${"f".repeat(24)}"] td:nth-child(4)`) === "5.0 MB", "5 MiB not 5.0 MB");
  await shot(page, "keyboard");
  // The only route now; taken away once a poll it is answering has been
  // answered (a plain unroute hands that poll on to the server, and the
  // handler's own answer then fails as "already handled").
  await page.unrouteAll({ behavior: "wait" });
  await page.waitForFunction(() => !document.querySelector('#jobs tr[data-fid="ffffffffffffffffffffffff"]'));

  // Several files at once, two in flight: each its own row and its own
  // outcome (the gateway's 415 for what is not a video).
  step("several files");
  await page.evaluate(() => { window.maxInflight = 0; document.getElementById("uploads").textContent = ""; });
  await page.selectOption("#o-channels", "");
  await page.fill("#o-title", "");
  await page.setInputFiles("#file", [video, longVideo, silent, bad]);
  await page.click("#upload-btn");
  await page.waitForFunction(() => document.querySelectorAll("#uploads li.done, #uploads li.failed").length === 4,
                             null, { timeout: 60000 });
  const rows = await page.$$eval("#uploads li", (lis) => lis.map((li) => ({
    cls: li.className, pct: li.querySelector(".pct").textContent, msg: li.querySelector(".msg").textContent })));
  check(rows.filter((r) => r.cls === "done" && r.pct === "100 %").length === 3, "uploads: " + JSON.stringify(rows));
  const refused = rows.find((r) => r.cls === "failed");
  check(refused && refused.msg.includes("not a video or audio file (415)"), "the 415 is not shown: " + JSON.stringify(rows));
  const maxParallel = await page.evaluate(() => window.maxInflight);
  check(maxParallel === 2, "uploads in flight at once: " + maxParallel);

  // Too large: the gateway's 413, said as it says it.
  step("too large");
  await page.setInputFiles("#file", huge);
  await page.click("#upload-btn");
  await page.waitForSelector("#uploads li:first-child.failed", { timeout: 30000 });
  const big = await page.textContent("#uploads li:first-child .msg");
  check(big.includes("(413)"), "the 413 is not shown: " + big);

  // A file dropped onto the drop zone is uploaded too.
  step("drop");
  const bytes = readFileSync(video).toString("base64");
  await page.evaluate((b64) => {
    const dt = new DataTransfer();
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    dt.items.add(new File([raw], "dropped.mp4", { type: "video/mp4" }));
    document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, bytes);
  await page.waitForFunction(() => [...document.querySelectorAll("#uploads li.done .name")]
    .some((n) => n.textContent.startsWith("dropped.mp4")));
  // The drop zone is a button for the keyboard: Enter and Space open the
  // chooser (counted here, not opened: headless Chromium does not always open
  // a second chooser on a page), and what is chosen so is uploaded at once.
  await page.evaluate(() => {
    window.pickers = 0;
    document.getElementById("file").click = () => { window.pickers++; };
  });
  await tabTo(page, "#drop");
  await page.keyboard.press("Space");
  await page.keyboard.press("Enter");
  check(await page.evaluate(() => window.pickers) === 2, "Space and Enter on the drop zone do not open the chooser");
  await page.setInputFiles("#file", video);
  await page.waitForFunction(() => document.querySelectorAll("#uploads li.done").length === 5);
  check(await page.$eval("#file", (f) => f.files.length === 0), "the file chosen by the drop zone stays in the input");

  // The job without sound fails: its reason on one line, a Retry button.
  step("failed job");
  const failed = await page.waitForSelector("#jobs td.status.err details.why", { timeout: 120000 });
  const why = await failed.getAttribute("title");
  check(why && why.length > 0, "no reason in the title");
  const oneLine = await failed.evaluate((d) => d.querySelector("summary").getBoundingClientRect().height);
  check(oneLine < 40, "the reason takes more than one line: " + oneLine);
  await page.click("#jobs tr:has(td.status.err) button.retry");
  await page.waitForFunction(() => document.getElementById("job-msg").textContent.includes("is queued again"));
  check(await page.$$eval("#jobs td:nth-child(5)", (tds) => tds.every((td) => td.textContent.length > 5)),
        "no upload times");
  await shot(page, "files");

  // The server gone: the jobs are stale, the message says so, and an upload
  // is tried again once it is back.
  step("server down");
  await page.route("**/jobs?limit=50", (route) => route.abort("connectionrefused"));
  await page.waitForSelector("#net:not([hidden])", { timeout: 10000 });
  check((await page.textContent("#net")).includes("cannot reach the server — retrying…"), "no server-down message");
  check(await page.$eval("#jobs-table", (t) => t.classList.contains("stale")), "the table is not marked stale");
  let aborted = 0;
  const tusPaths = (u) => u.pathname.startsWith("/files");
  await page.route(tusPaths, (route) => (aborted++ < 2 ? route.abort("connectionrefused") : route.continue()));
  await page.setInputFiles("#file", video);
  await page.click("#upload-btn");
  await page.waitForFunction(() => document.querySelector("#uploads li .msg").textContent.includes("cannot reach the server — retrying…"));
  check(!(await page.textContent("#uploads")).includes("upload failed (0)"), "upload failed (0)");
  await shot(page, "server-down");
  await page.unroute("**/jobs?limit=50");
  await page.waitForSelector("#uploads li:first-child.done", { timeout: 20000 });
  await page.waitForSelector("#net[hidden]", { state: "attached", timeout: 10000 });
  check(!(await page.$eval("#jobs-table", (t) => t.classList.contains("stale"))), "still marked stale");
  await page.unroute(tusPaths);

  // A large upload cut after two of its 8 MiB chunks (each later PATCH
  // refused as a dropped connection), the page reloaded, the same file
  // chosen again: it carries on from the server's offset, says so, and its
  // job ends with an MP3.
  step("resume after a reload");
  let patches = 0;
  await page.route(tusPaths, (route) =>
    (route.request().method() === "PATCH" && ++patches > 2 ? route.abort("connectionreset") : route.continue()));
  await page.setInputFiles("#file", large);
  await page.click("#upload-btn");
  await page.waitForFunction(() => Object.keys(localStorage).some((k) => k.startsWith("tus::")), null, { timeout: 30000 });
  // Asked as any client would: HEAD on the upload's address.
  const serverOffset = () => page.evaluate(async () => {
    const k = Object.keys(localStorage).find((x) => x.startsWith("tus::"));
    const at = JSON.parse(localStorage.getItem(k)).uploadUrl;
    const r = await fetch(at, { method: "HEAD", headers: { Authorization: "Bearer " + sessionStorage.getItem("v2m-token"),
                                                           "Tus-Resumable": "1.0.0" } });
    return r.status === 200 ? Number(r.headers.get("Upload-Offset")) : -r.status;
  });
  let cutOffset = 0;
  for (let i = 0; i < 300 && (patches < 3 || cutOffset <= 0); i++) {
    await page.waitForTimeout(100);
    cutOffset = await serverOffset();
  }
  check(patches >= 3 && cutOffset > 0, "the upload was not cut with bytes on the server: " + patches + " " + cutOffset);
  await page.waitForFunction(() => document.querySelector("#uploads li .msg").textContent.includes("cannot reach the server"));
  await shot(page, "resume-cut");
  await page.reload();
  await page.unroute(tusPaths);
  if (await page.isVisible("#login")) await login(page);
  await page.waitForSelector("#app:not([hidden])");
  // What is left unfinished is listed, with how far it got.
  const left = await page.waitForSelector("#uploads li.unfinished", { timeout: 10000 });
  check((await left.textContent()).includes(basename(large)), "the unfinished upload is not listed: " + await left.textContent());
  check((await left.$eval(".pct", (p) => p.textContent)) === Math.floor(cutOffset / statSync(large).size * 100) + " %",
        "the unfinished upload's percentage: " + await left.$eval(".pct", (p) => p.textContent));
  await shot(page, "resume-unfinished");
  // The chunks after the cut go slowly, for the message to be seen.
  await page.route(tusPaths, async (route) => {
    if (route.request().method() === "PATCH") await new Promise((ok) => setTimeout(ok, 700));
    await route.continue();
  });
  await page.setInputFiles("#file", large);
  await page.click("#upload-btn");
  await page.waitForFunction(() => document.querySelector("#uploads li:first-child .msg").textContent.startsWith("Resuming "),
                             null, { timeout: 20000 });
  const resuming = await page.textContent("#uploads li:first-child .msg");
  check(resuming.includes(" at " + Math.floor(cutOffset / statSync(large).size * 100) + " %"), "resuming message: " + resuming);
  check(!(await page.$("#uploads li.unfinished")), "the unfinished row stays while the file carries on");
  await shot(page, "resume-resuming");
  await page.waitForSelector("#uploads li:first-child.done", { timeout: 60000 });
  await page.unrouteAll({ behavior: "wait" });  // the only route, its handler waits: as above
  const resumedAt = Number(await page.$eval("#uploads li:first-child", (li) => li.dataset.resumedAt));
  const bigFid = await page.$eval("#uploads li:first-child", (li) => li.dataset.fid);
  check((await page.textContent("#uploads li:first-child .msg")).includes("(resumed at "), "the done message does not say it resumed");
  check(await page.evaluate(() => !Object.keys(localStorage).some((k) => k.startsWith("tus::"))),
        "the finished upload is still kept for resuming");
  const bigLink = await page.waitForSelector(`#jobs tr[data-fid="${bigFid}"] .download`, { timeout: 120000 });
  const [bigDownload] = await Promise.all([page.waitForEvent("download"), bigLink.click()]);
  check(bigDownload.suggestedFilename() === basename(large).replace(/\.[^.]*$/, "") + ".mp3",
        "download named " + bigDownload.suggestedFilename());
  const mp3 = await bigDownload.path();
  const mp3Bytes = statSync(mp3).size;
  check(readFileSync(mp3).subarray(0, 3).toString("latin1") === "ID3" || readFileSync(mp3)[0] === 0xff, "not an MP3");
  downloads++;
  await shot(page, "resume-done");
  resume = { size: statSync(large).size, cut_offset: cutOffset, resumed_at: resumedAt, mp3_bytes: mp3Bytes, video_fid: bigFid };

  // The session refused (revoked or expired on the server): back to the login form, saying why.
  step("session expired");
  await page.evaluate(() => {
    const t = sessionStorage.getItem("v2m-token");
    sessionStorage.setItem("v2m-token", t.slice(0, -4) + (t.endsWith("AAAA") ? "BBBB" : "AAAA"));
  });
  await page.reload();
  await page.waitForSelector("#login:not([hidden])");
  await page.waitForFunction(() => document.getElementById("login-msg").textContent
    .includes("your session has expired, please log in again"));
  check(await page.$eval("#app", (a) => a.hidden), "the jobs are still shown");
  // And a token past its time, known before asking.
  await page.evaluate(() => {
    const b = (o) => btoa(JSON.stringify(o)).replace(/=+$/, "");
    sessionStorage.setItem("v2m-token", b({ alg: "HS256" }) + "." + b({ username: "x", exp: 1 }) + ".sig");
  });
  await page.reload();
  await page.waitForFunction(() => document.getElementById("login-msg").textContent.includes("your session has expired"));
  await shot(page, "expired");
  await login(page);

  // A phone: 375 px wide, no sideways scrolling, with the options open.
  step("phone");
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true,
                                           deviceScaleFactor: 2 });
  const mobile = await phone.newPage();
  watch(mobile);
  await mobile.goto(url);
  check(await mobile.evaluate(() => document.documentElement.scrollWidth) <= 375, "the login form is wider than 375 px");
  await login(mobile);
  await mobile.waitForSelector("#jobs a.download");
  await mobile.click("#options summary");
  await mobile.setInputFiles("#file", longVideo);
  await mobile.click("#upload-btn");
  await mobile.waitForSelector("#uploads li.done");
  await mobile.waitForSelector("#jobs td.status.err details.why");
  const width = await mobile.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 375, "scrollWidth at 375 px: " + width);
  const tap = await mobile.$eval("#jobs a.download", (a) => a.getBoundingClientRect().right);
  check(tap <= 375, "Download is off the screen");
  await shot(mobile, "phone");
  await phone.close();

  // Without tus: the script did not load, or the server has no /files/ (404
  // to the creation). The page uploads by POST /upload then.
  step("fallback to POST /upload");
  const plain = await browser.newContext({ viewport: { width: 1024, height: 800 } });
  await instrument(plain);
  const old = await plain.newPage();
  old.on("pageerror", (e) => errors.push(String(e)));
  await old.route("**/static/tus.min.js", (route) => route.abort("connectionrefused"));
  await old.goto(url);
  await login(old);
  check(await old.evaluate(() => !window.tus), "tus-js-client loaded all the same");
  await old.setInputFiles("#file", video);
  await old.click("#upload-btn");
  await old.waitForSelector("#uploads li.done", { timeout: 30000 });
  check(await old.$eval("#uploads li.done", (li) => li.dataset.transport === "post" && /^[0-9a-f]{24}$/.test(li.dataset.fid)),
        "without the script the upload did not go by POST /upload");
  await old.unroute("**/static/tus.min.js");
  await old.route((u) => u.pathname.startsWith("/files"), (route) =>
    (route.request().method() === "POST" ? route.fulfill({ status: 404, body: "not found" }) : route.continue()));
  await old.reload();
  await old.waitForSelector("#app:not([hidden])");
  check(await old.evaluate(() => !!window.tus), "tus-js-client did not load");
  await old.setInputFiles("#file", video);
  await old.click("#upload-btn");
  await old.waitForSelector("#uploads li.done", { timeout: 30000 });
  check(await old.$eval("#uploads li.done", (li) => li.dataset.transport === "post"),
        "with /files/ answering 404 the upload did not go by POST /upload");
  check(await old.evaluate(() => window.sent.some((f) => f.file)), "nothing was sent by POST /upload");
  await plain.close();

  if (errors.length) throw new Error("errors in the page: " + errors.join("; "));
  console.log(JSON.stringify({ screenshots, downloads, max_parallel: maxParallel, resume }));
} catch (e) {
  let i = 0;
  for (const p of browser.contexts().flatMap((c) => c.pages()))
    await p.screenshot({ path: outdir + "/failure-" + i++ + ".png", fullPage: true }).catch(() => {});
  process.stderr.write("screenshots in " + outdir + "\n");
  throw e;
} finally {
  await browser.close();
}
