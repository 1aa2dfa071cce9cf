//go:build postgres

package postgres_test

import (
	"testing"

	"dssd/dss/store/storetest"
)

func TestJobs(t *testing.T) { storetest.Jobs(t, backend) }
