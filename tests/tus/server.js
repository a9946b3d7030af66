// server.js - the reference tus server for bench/tus.sh: @tus/server with
// @tus/file-store, as their documentation sets them up.
//   node server.js <port> <directory>
'use strict';
const { Server } = require('@tus/server');
const { FileStore } = require('@tus/file-store');

const [port, directory] = process.argv.slice(2);
const server = new Server({ path: '/files', datastore: new FileStore({ directory }) });
server.listen({ host: '127.0.0.1', port: Number(port) });
