// Package bench measures the project against baselines taken in the same
// run on the same machine: every figure is printed beside the baseline it
// is compared with. `make bench` runs cmd/provbench, which calls the
// functions here and writes the table to bench/results/ as JSON and
// Markdown.
package bench
