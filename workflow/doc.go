// Package workflow holds the domain: how a submission becomes a task, how a
// task's events fold into its state, and the validation rules of both. It
// is pure (no I/O) so projections, executors and handlers share one
// definition of what an event means.
package workflow
