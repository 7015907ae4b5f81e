// The page's configuration, served beside it: where the orchestrator is,
// what each built-in role grants, and the build.

export const config = {
  orchestratorURL: '',
  roles: {},
  kinds: [],
  actions: [],
  version: '',
  assets: '',
};

export async function loadConfig() {
  const res = await fetch('/ui/config.json', { credentials: 'omit', cache: 'no-store' });
  if (!res.ok) throw new Error(`the dashboard's configuration did not load (HTTP ${res.status})`);
  const c = await res.json();
  config.orchestratorURL = c.orchestrator_url || `${location.protocol}//${location.hostname}:9090`;
  config.roles = c.roles || {};
  config.kinds = c.kinds || [];
  config.actions = c.actions || [];
  config.version = c.version || '';
  config.assets = c.assets || '';
}
