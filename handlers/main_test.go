package handlers_test

import (
	"os"
	"testing"

	"provisioning/app/apptest"
)

func TestMain(m *testing.M) {
	apptest.SimulatorMain()
	os.Exit(m.Run())
}
