//go:build postgres

package postgres_test

import (
	"testing"

	"dssd/internal/testkit/storetest"
)

func TestJobs(t *testing.T) { storetest.Jobs(t, backend) }
