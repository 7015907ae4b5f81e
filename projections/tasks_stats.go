package projections

// SnapshotCount is how many workflow snapshots the task view holds (one
// per status change of every task).
func (t *Tasks) SnapshotCount() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := 0
	for _, task := range t.order {
		n += len(task.Snapshots)
	}
	return n
}
