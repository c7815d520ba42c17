// Package synctest writes the mutations of tests of the sync engine and of
// the collections declared on it, and pushes them.
package synctest

import (
	"context"
	"encoding/json"
	"testing"

	"fieldsync"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// Tenant is the tenant of the test staff.
const Tenant = "acme"

// Staff of the tests, one per role, at site s1 (Super2 at s2); Other is an
// admin of another tenant. The technicians' ids are UUIDs, as assignees are.
var (
	Guard1 = &fieldsync.Caller{UserID: "u-guard1", TenantID: Tenant, DeviceID: "d-guard1", Role: fieldsync.RoleGuard, SiteIDs: []string{"s1"}}
	Guard2 = &fieldsync.Caller{UserID: "u-guard2", TenantID: Tenant, DeviceID: "d-guard2", Role: fieldsync.RoleGuard, SiteIDs: []string{"s1"}}
	Tech1  = &fieldsync.Caller{UserID: "00000000-0000-4000-8000-000000000001", TenantID: Tenant, DeviceID: "d-tech1", Role: fieldsync.RoleTechnician, SiteIDs: []string{"s1"}}
	Tech2  = &fieldsync.Caller{UserID: "00000000-0000-4000-8000-000000000002", TenantID: Tenant, DeviceID: "d-tech2", Role: fieldsync.RoleTechnician, SiteIDs: []string{"s1"}}
	Agent1 = &fieldsync.Caller{UserID: "u-agent1", TenantID: Tenant, DeviceID: "d-agent1", Role: fieldsync.RoleCSAgent, SiteIDs: []string{"s1"}}
	Super2 = &fieldsync.Caller{UserID: "u-super2", TenantID: Tenant, DeviceID: "d-super2", Role: fieldsync.RoleSupervisor, SiteIDs: []string{"s2"}}
	Admin  = &fieldsync.Caller{UserID: "u-admin", TenantID: Tenant, DeviceID: "d-admin", Role: fieldsync.RoleAdmin}
	Other  = &fieldsync.Caller{UserID: "u-other", TenantID: "globex", DeviceID: "d-other", Role: fieldsync.RoleAdmin}
)

// Fields are a mutation's fields (or an action's arguments) from name,
// value pairs, each value as JSON.
func Fields(kv ...any) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i < len(kv); i += 2 {
		b, err := json.Marshal(kv[i+1])
		if err != nil {
			panic(err)
		}
		m[kv[i].(string)] = b
	}
	return m
}

// Create is a create of record id of coll with the fields kv.
func Create(coll, id string, kv ...any) fieldsync.Mutation {
	return fieldsync.Mutation{MutationID: uuid.NewString(), Collection: coll, Op: fieldsync.OpCreate, ID: id, Fields: Fields(kv...)}
}

// Update is an update of record id of coll from version base.
func Update(coll, id string, base int64, kv ...any) fieldsync.Mutation {
	return fieldsync.Mutation{MutationID: uuid.NewString(), Collection: coll, Op: fieldsync.OpUpdate, ID: id, BaseVersion: base, Fields: Fields(kv...)}
}

// Action is the action name on record id of coll from version base, with the arguments kv.
func Action(coll, id string, base int64, name string, kv ...any) fieldsync.Mutation {
	return fieldsync.Mutation{MutationID: uuid.NewString(), Collection: coll, Op: fieldsync.OpAction, ID: id, BaseVersion: base, Action: name, Args: Fields(kv...)}
}

// Delete is a delete of record id of coll from version base.
func Delete(coll, id string, base int64) fieldsync.Mutation {
	return fieldsync.Mutation{MutationID: uuid.NewString(), Collection: coll, Op: fieldsync.OpDelete, ID: id, BaseVersion: base}
}

// Push pushes ms to e as c from c's device and fails the test on an
// envelope error; it returns the results.
func Push(tb testing.TB, e *fsync.Engine, c *fieldsync.Caller, ms ...fieldsync.Mutation) []fieldsync.MutationResult {
	tb.Helper()
	res, err := e.Push(fieldsync.NewContextWithCaller(context.Background(), c), fieldsync.PushRequest{DeviceID: c.DeviceID, Mutations: ms})
	if err != nil {
		tb.Fatalf("push as %s: %v", c.UserID, err)
	}
	return res.Results
}

// WantStatus fails unless the results have the statuses want, in order.
func WantStatus(tb testing.TB, got []fieldsync.MutationResult, want ...string) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Status != want[i] {
			tb.Fatalf("result %d: got status %s (error %+v), want %s", i, got[i].Status, got[i].Error, want[i])
		}
	}
}
