package simulator

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// State is the simulated cloud: which resources exist, kept in a JSON file
// shared by every simulator process (guarded by a file lock), and a journal
// of runs beside it.
type State struct {
	path string
}

// Resource is one created thing.
type Resource struct {
	CreatedAt time.Time `json:"created_at"`
	TaskID    string    `json:"task_id,omitempty"`
}

type stateFile struct {
	Resources map[string]Resource `json:"resources"`
}

// OpenState prepares the state file's directory.
func OpenState(path string) (*State, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("simulator state: %w", err)
	}
	return &State{path: path}, nil
}

func (s *State) journalPath() string { return filepath.Join(filepath.Dir(s.path), "journal.jsonl") }
func (s *State) lockPath() string    { return s.path + ".lock" }

// JournalEntry is one line of the journal: a run's start or end, or an
// overlap (a run started while another run of the same task held it).
type JournalEntry struct {
	Event   string    `json:"event"`
	TaskID  string    `json:"task_id"`
	Attempt string    `json:"attempt,omitempty"`
	PID     int       `json:"pid"`
	Code    *int      `json:"code,omitempty"`
	Time    time.Time `json:"time"`
}

func (s *State) journal(e JournalEntry) {
	e.PID, e.Time = os.Getpid(), time.Now().UTC()
	line, _ := json.Marshal(e)
	f, err := os.OpenFile(s.journalPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
}

// Start records a run of taskID and takes the task's run lock: a byte
// range of the lock file, which the kernel releases when the process dies
// however it dies. overlap reports that another live process held it.
func (s *State) Start(taskID, attempt string) (release func(code int), overlap bool, err error) {
	if taskID == "" {
		return func(int) {}, false, nil
	}
	f, err := os.OpenFile(s.lockPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("simulator lock: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte(taskID))
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: int64(h.Sum64() >> 2), Len: 1}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		overlap = true
		s.journal(JournalEntry{Event: "overlap", TaskID: taskID, Attempt: attempt})
	}
	s.journal(JournalEntry{Event: "start", TaskID: taskID, Attempt: attempt})
	return func(code int) {
		s.journal(JournalEntry{Event: "end", TaskID: taskID, Attempt: attempt, Code: &code})
		f.Close()
	}, overlap, nil
}

// Apply creates or deletes resources and reports how many changed.
func (s *State) Apply(op string, resources []string, taskID string) (int, error) {
	changed := 0
	err := s.update(func(st *stateFile) {
		for _, r := range resources {
			_, exists := st.Resources[r]
			switch {
			case op == "create" && !exists:
				st.Resources[r] = Resource{CreatedAt: time.Now().UTC(), TaskID: taskID}
				changed++
			case op == "delete" && exists:
				delete(st.Resources, r)
				changed++
			}
		}
	})
	return changed, err
}

// Resources lists the existing resources, sorted.
func (s *State) Resources() ([]string, error) {
	var out []string
	err := s.update(func(st *stateFile) {
		for r := range st.Resources {
			out = append(out, r)
		}
	})
	sort.Strings(out)
	return out, err
}

// update runs fn on the state under an exclusive lock and writes the
// result atomically (temporary file, then rename).
func (s *State) update(fn func(*stateFile)) error {
	lf, err := os.OpenFile(s.path+".flock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("simulator state lock: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("simulator state lock: %w", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	st := stateFile{Resources: map[string]Resource{}}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read simulator state: %w", err)
	default:
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("simulator state %s is corrupted: %w", s.path, err)
		}
		if st.Resources == nil {
			st.Resources = map[string]Resource{}
		}
	}
	fn(&st)
	out, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return fmt.Errorf("write simulator state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("write simulator state: %w", err)
	}
	return nil
}

// ReadJournal reads the journal of the state at path.
func ReadJournal(statePath string) ([]JournalEntry, error) {
	f, err := os.Open(filepath.Join(filepath.Dir(statePath), "journal.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []JournalEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e JournalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return out, fmt.Errorf("journal line %d: %w", len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Overlaps lists the tasks of which two runs held the run lock at once:
// the journal's "overlap" entries, written by a run that found the lock of
// its task taken by a live process.
func Overlaps(entries []JournalEntry) []string {
	var out []string
	for _, e := range entries {
		if e.Event == "overlap" {
			out = append(out, e.TaskID)
		}
	}
	return out
}

// Runs counts the started runs of each task.
func Runs(entries []JournalEntry) map[string]int {
	out := map[string]int{}
	for _, e := range entries {
		if e.Event == "start" {
			out[e.TaskID]++
		}
	}
	return out
}
