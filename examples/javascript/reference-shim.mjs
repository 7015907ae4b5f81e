// Preloaded with `node --import ./reference-shim.mjs sdk-example.mjs` so
// that the API reference's example runs as written:
//
//  - the example calls require() and uses top-level await, which no
//    single module system allows (CommonJS has require but no top-level
//    await; ES modules the other way round). It is kept as an ES module
//    (sdk-example.mjs) and this shim gives it a CommonJS require.
//  - it hard-codes http://localhost:9090 and 'your-jwt-token': when
//    PROVISIONING_SERVER and PROVISIONING_TOKEN are set, the axios
//    instances it creates use them instead.
import { createRequire } from 'node:module';

const require = createRequire(new URL('./sdk-example.mjs', import.meta.url));
globalThis.require = require;

const axios = require('axios');
const create = axios.create.bind(axios);
axios.create = (config = {}) => {
  const server = process.env.PROVISIONING_SERVER;
  const token = process.env.PROVISIONING_TOKEN;
  const headers = { ...(config.headers || {}) };
  if (token && headers.Authorization === 'Bearer your-jwt-token') {
    headers.Authorization = `Bearer ${token}`;
  }
  const baseURL = server && config.baseURL === 'http://localhost:9090' ? server : config.baseURL;
  return create({ ...config, baseURL, headers });
};
