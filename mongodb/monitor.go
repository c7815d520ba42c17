package mongodb

import (
	"context"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/event"
)

// eventMonitor counts the commands the driver sends to the database: the
// round trips the sync engine's tests and benchmarks hold constant.
type eventMonitor struct {
	n      atomic.Int64
	byName sync.Map // command name → *atomic.Int64
}

// CommandCounter counts database round trips.
type CommandCounter = eventMonitor

// NewCommandCounter returns a counter to pass in Options.Monitor.
func NewCommandCounter() *CommandCounter { return &eventMonitor{} }

// Count returns the number of commands started so far.
func (m *eventMonitor) Count() int64 { return m.n.Load() }

// CountOf returns the number of commands named name ("find", "getMore", …) started so far.
func (m *eventMonitor) CountOf(name string) int64 {
	if v, ok := m.byName.Load(name); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (m *eventMonitor) commandMonitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			switch e.CommandName {
			case "hello", "isMaster", "ismaster", "ping", "endSessions":
				return
			}
			m.n.Add(1)
			v, _ := m.byName.LoadOrStore(e.CommandName, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
		},
	}
}
