//go:build postgres

package postgres_test

import (
	"testing"

	"dssd/dss/store/storetest"
)

func TestRegistry(t *testing.T) { storetest.Registry(t, backend) }
