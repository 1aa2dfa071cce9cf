package sqlite_test

import (
	"testing"

	"dssd/internal/testkit/storetest"
)

func TestRegistry(t *testing.T) { storetest.Registry(t, backend) }
