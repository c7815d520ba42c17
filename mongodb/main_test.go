package mongodb_test

import (
	"testing"

	"fieldsync/devstack/devtest"
)

func TestMain(m *testing.M) { devtest.Main(m) }
