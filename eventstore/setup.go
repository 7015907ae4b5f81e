package eventstore

import (
	"context"
	"fmt"
	"provisioning/events"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SetupConfig sizes the streams.
type SetupConfig struct {
	// Replicas of every stream, bucket and object store (1 on a single
	// node, 3 on a cluster).
	Replicas int
	// DuplicateWindow is how long JetStream remembers message ids for
	// deduplication (default 2 minutes).
	DuplicateWindow time.Duration
	// AuditMaxAge bounds how long audit records are kept (0: forever).
	AuditMaxAge time.Duration
	// DeliveriesMaxAge is how long webhook delivery records are kept
	// (0: 30 days).
	DeliveriesMaxAge time.Duration
}

// Setup creates or updates the streams. It is idempotent and safe to run
// from several instances at once.
func (s *Store) Setup(ctx context.Context, cfg SetupConfig) error {
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.DuplicateWindow == 0 {
		cfg.DuplicateWindow = 2 * time.Minute
	}
	s.replicas = cfg.Replicas
	for _, st := range events.Streams {
		sc := jetstream.StreamConfig{
			Name:        st.Name,
			Subjects:    []string{st.Prefix + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Replicas:    cfg.Replicas,
			AllowDirect: true,
			Duplicates:  cfg.DuplicateWindow,
			// Never discard: history is the source of truth. A full store
			// refuses new writes instead (ErrStorageFull).
			Discard: jetstream.DiscardNew,
		}
		switch st {
		case events.AuditStream:
			sc.MaxAge = cfg.AuditMaxAge
		case events.DeliveriesStream:
			sc.MaxAge = cfg.DeliveriesMaxAge
			if sc.MaxAge <= 0 {
				sc.MaxAge = 30 * 24 * time.Hour
			}
			// Old records age out; a full store still refuses new ones
			// rather than dropping what the retention promises.
		}
		if _, err := s.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("set up stream %s: %w", st.Name, err)
		}
	}
	if _, err := s.integrity(ctx); err != nil {
		return err
	}
	return nil
}

// Replicas is the replication Setup was given; buckets and object stores
// of other packages use it too.
func (s *Store) Replicas() int {
	if s.replicas < 1 {
		return 1
	}
	return s.replicas
}

// KeyValue creates or updates a KV bucket with the store's replication.
func (s *Store) KeyValue(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Replicas = s.Replicas()
	if cfg.Storage == 0 {
		cfg.Storage = jetstream.FileStorage
	}
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("set up bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// ObjectStore creates or updates an object store with the store's
// replication.
func (s *Store) ObjectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	cfg.Replicas = s.Replicas()
	cfg.Storage = jetstream.FileStorage
	obs, err := s.js.CreateOrUpdateObjectStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("set up object store %s: %w", cfg.Bucket, err)
	}
	return obs, nil
}
