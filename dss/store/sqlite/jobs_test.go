package sqlite_test

import (
	"testing"

	"dssd/internal/testkit/storetest"
)

func TestJobs(t *testing.T) { storetest.Jobs(t, backend) }
