// Package executors turns events into work: the pool of workers consuming
// jobs from JetStream, the process runner that executes the provisioning
// CLI, and (in later files) the batch coordinator. It never serves HTTP and
// never reads views: it talks to the rest of the system through the event
// store.
package executors
