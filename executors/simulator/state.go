package simulator

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// State is the simulated cloud: one small file per existing resource under
// resources/ beside the state path (so a run costs the same however big
// the cloud grows, and runs need no shared lock), and a journal of runs.
type State struct {
	path string
}

// Resource is one created thing.
type Resource struct {
	CreatedAt time.Time `json:"created_at"`
	TaskID    string    `json:"task_id,omitempty"`
}

// OpenState prepares the state's directory.
func OpenState(path string) (*State, error) {
	s := &State{path: path}
	if err := os.MkdirAll(s.resourcesDir(), 0o755); err != nil {
		return nil, fmt.Errorf("simulator state: %w", err)
	}
	return s, nil
}

func (s *State) resourcesDir() string { return filepath.Join(filepath.Dir(s.path), "resources") }

// file is where a resource key ("servers/<infra>/<name>") lives; each
// part is escaped so no name can leave the directory.
func (s *State) file(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return filepath.Join(s.resourcesDir(), strings.Join(parts, string(filepath.Separator))+".json")
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

func (s *State) journal(e JournalEntry) error {
	e.PID, e.Time = os.Getpid(), time.Now().UTC()
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(s.journalPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("simulator journal: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("simulator journal: %w", err)
	}
	return nil
}

// Start records a run of taskID and takes the task's run lock: a byte
// range of the lock file, which the kernel releases when the process dies
// however it dies. overlap reports that another live process held it.
func (s *State) Start(taskID, attempt string) (release func(code int) error, overlap bool, err error) {
	if taskID == "" {
		return func(int) error { return nil }, false, nil
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
		if err := s.journal(JournalEntry{Event: "overlap", TaskID: taskID, Attempt: attempt}); err != nil {
			f.Close()
			return nil, true, err
		}
	}
	if err := s.journal(JournalEntry{Event: "start", TaskID: taskID, Attempt: attempt}); err != nil {
		f.Close()
		return nil, overlap, err
	}
	return func(code int) error {
		defer f.Close()
		return s.journal(JournalEntry{Event: "end", TaskID: taskID, Attempt: attempt, Code: &code})
	}, overlap, nil
}

// Apply creates or deletes resources and reports how many changed. A
// create that finds its resource, or a delete that does not, changes
// nothing: the CLI is idempotent.
func (s *State) Apply(op string, resources []string, taskID string) (int, error) {
	changed := 0
	for _, r := range resources {
		f := s.file(r)
		switch op {
		case "create":
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				return changed, fmt.Errorf("simulator state: %w", err)
			}
			data, _ := json.Marshal(Resource{CreatedAt: time.Now().UTC(), TaskID: taskID})
			out, err := os.OpenFile(f, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, os.ErrExist) {
				continue
			}
			if err != nil {
				return changed, fmt.Errorf("simulator state: %w", err)
			}
			_, werr := out.Write(data)
			if err := errors.Join(werr, out.Close()); err != nil {
				return changed, fmt.Errorf("simulator state: %w", err)
			}
			changed++
		case "delete":
			err := os.Remove(f)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return changed, fmt.Errorf("simulator state: %w", err)
			}
			changed++
		}
	}
	return changed, nil
}

// Resources lists the existing resources, sorted.
func (s *State) Resources() ([]string, error) {
	var out []string
	root := s.resourcesDir()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, err := filepath.Rel(root, strings.TrimSuffix(path, ".json"))
		if err != nil {
			return err
		}
		parts := strings.Split(rel, string(filepath.Separator))
		for i, p := range parts {
			if parts[i], err = url.PathUnescape(p); err != nil {
				return err
			}
		}
		out = append(out, strings.Join(parts, "/"))
		return nil
	})
	sort.Strings(out)
	return out, err
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
