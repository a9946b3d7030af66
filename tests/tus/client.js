// client.js - tus-js-client (the real one, from npm) against a tus server.
//
//   node client.js <mode> <endpoint> <token> <file> <metadata-json> [upload-url]
//
// mode "cut": upload until about half the file is sent, then abort, and
//             print {"url": ..., "sent": n}
// mode "full": upload (resuming at upload-url when given) to the end and
//             print {"url": ..., "fid": <V2M-Video-Fid>, "status": n}
// On an error: {"error": ..., "status": <HTTP status or 0>}. One JSON line
// on stdout; exit status 0 unless the script itself is broken.
'use strict';
const fs = require('fs');
const tus = require('tus-js-client');

const [mode, endpoint, token, file, metaJson, uploadUrl] = process.argv.slice(2);
const data = fs.readFileSync(file);
const chunkSize = Number(process.env.TUS_CHUNK || 256 * 1024);
let done = false;

function out(obj) {
  if (done) return;
  done = true;
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const upload = new tus.Upload(data, {
  endpoint,
  uploadUrl: uploadUrl || null,
  headers: token ? { Authorization: 'Bearer ' + token } : {},
  metadata: JSON.parse(metaJson || '{}'),
  chunkSize: Number.isFinite(chunkSize) && chunkSize > 0 ? chunkSize : Infinity,
  retryDelays: null,
  storeFingerprintForResuming: false,
  onProgress(sent, total) {
    if (mode === 'cut' && sent >= total / 2 && !done) {
      upload.abort(false).then(() => out({ url: upload.url, sent }));
    }
  },
  onError(err) {
    const res = err.originalResponse;
    out({ error: String(err), url: upload.url, status: res ? res.getStatus() : 0,
        body: res ? res.getBody() : '' });
  },
  onSuccess(payload) {
    const res = payload && payload.lastResponse;
    out({ url: upload.url, fid: res ? res.getHeader('V2M-Video-Fid') || null : null,
          status: res ? res.getStatus() : 0 });
  },
});
upload.start();
