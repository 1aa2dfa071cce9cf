package sqlite

// Commits is the number of audit transactions s has committed.
func Commits(s *Store) int64 { return s.gc.commits.Load() }
