// Counters the page keeps about itself, for the browser tests and the
// benchmark (window.provisioningDashboard.metrics). No secret goes here.

export const metrics = {
  frames: 0,
  statusFrames: 0,
  reconnects: 0,
  statusChanges: 0,
  graphReadyAt: 0,
  renders: 0,
};

globalThis.provisioningDashboard = { metrics };
