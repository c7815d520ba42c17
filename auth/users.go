package auth

import (
	"context"
	"slices"
	"time"

	"fieldsync"

	"github.com/google/uuid"
)

// NewUser is a user to create.
type NewUser struct {
	TenantID   string
	Username   string
	Password   string
	Name       string
	Role       fieldsync.Role
	Department string
	SiteIDs    []string
}

// UserPatch changes some fields of a user; nil fields stay as they are.
type UserPatch struct {
	Name       *string
	Role       *fieldsync.Role
	Department *string
	SiteIDs    *[]string
	Active     *bool
	Password   *string
}

// CreateUser creates an active user without checking any caller: for the
// CLI, the demo seed and tests. The admin API goes through AdminCreateUser.
// Errors: invalid_input naming the field, conflict when the username is taken.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (*fieldsync.User, error) {
	if err := validatePassword(in.Password); err != nil {
		return nil, err
	}
	return s.createUser(ctx, in, "")
}

// createUser creates in with the password hash hash, or hashes in.Password when hash is empty.
func (s *Service) createUser(ctx context.Context, in NewUser, hash string) (*fieldsync.User, error) {
	now := s.now()
	u := &fieldsync.User{
		ID: uuid.NewString(), TenantID: in.TenantID, Username: normalizeUsername(in.Username), Name: in.Name,
		Role: in.Role, Department: in.Department, SiteIDs: slices.Clone(in.SiteIDs), Active: true,
		CreatedAt: now, UpdatedAt: now,
	}
	if err := validateUser(u); err != nil {
		return nil, err
	}
	if hash == "" {
		var err error
		if hash, err = s.hashPassword(ctx, in.Password); err != nil {
			return nil, err
		}
	}
	u.PasswordHash = hash
	if err := s.store.CreateUser(ctx, u); err != nil {
		if fieldsync.ErrorCode(err) == fieldsync.EConflict {
			return nil, &fieldsync.Error{Code: fieldsync.EConflict, Field: "username", Message: "username already taken in this tenant", Err: err}
		}
		return nil, err
	}
	return u, nil
}

// admin returns the calling admin, or forbidden/unauthorized.
func admin(ctx context.Context) (*fieldsync.Caller, error) {
	c := fieldsync.CallerFromContext(ctx)
	if c == nil {
		return nil, fieldsync.Errorf(fieldsync.EUnauthorized, "not authenticated")
	}
	if !fieldsync.CanAdminister(c) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "admins only")
	}
	return c, nil
}

// AdminListUsers lists the users of the calling admin's tenant.
func (s *Service) AdminListUsers(ctx context.Context) ([]*fieldsync.User, error) {
	c, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.ListUsers(ctx, c.TenantID)
}

// AdminCreateUser creates a user in the calling admin's tenant (whatever tenant in names).
func (s *Service) AdminCreateUser(ctx context.Context, in NewUser) (*fieldsync.User, error) {
	c, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	in.TenantID = c.TenantID
	return s.CreateUser(ctx, in)
}

// tenantUser loads user id of tenant; another tenant's user is not_found.
func (s *Service) tenantUser(ctx context.Context, tenant, id string) (*fieldsync.User, error) {
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.TenantID != tenant {
		return nil, fieldsync.Errorf(fieldsync.ENotFound, "user not found")
	}
	return u, nil
}

// AdminUpdateUser applies p to user id of the caller's tenant. Role, site and
// activation changes apply to the user's next request (at most the cache TTL
// later on other instances). Deactivating a user, or changing their password,
// also revokes their sessions. An admin cannot deactivate or demote themselves.
func (s *Service) AdminUpdateUser(ctx context.Context, id string, p UserPatch) (*fieldsync.User, error) {
	c, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.tenantUser(ctx, c.TenantID, id)
	if err != nil {
		return nil, err
	}
	wasTech := u.Role == fieldsync.RoleTechnician
	if p.Name != nil {
		u.Name = *p.Name
	}
	if p.Role != nil {
		u.Role = *p.Role
		if wasTech && u.Role != fieldsync.RoleTechnician && p.Department == nil {
			u.Department = ""
		}
	}
	if p.Department != nil {
		u.Department = *p.Department
	}
	if p.SiteIDs != nil {
		u.SiteIDs = slices.Clone(*p.SiteIDs)
	}
	if p.Active != nil {
		u.Active = *p.Active
	}
	if u.ID == c.UserID && (!u.Active || u.Role != fieldsync.RoleAdmin) {
		return nil, fieldsync.Errorf(fieldsync.EConflict, "admins cannot deactivate or demote themselves")
	}
	if err := validateUser(u); err != nil {
		return nil, err
	}
	if p.Password != nil {
		if err := validatePassword(*p.Password); err != nil {
			return nil, err
		}
		if u.PasswordHash, err = s.hashPassword(ctx, *p.Password); err != nil {
			return nil, err
		}
	}
	now := s.now()
	u.UpdatedAt = now
	if err := s.store.ReplaceUser(ctx, u); err != nil {
		return nil, err
	}
	if !u.Active || p.Password != nil {
		if _, err := s.store.RevokeSessions(ctx, fieldsync.SessionFilter{TenantID: u.TenantID, UserID: u.ID}, now, "user deactivated or password changed"); err != nil {
			return nil, err
		}
	}
	s.cache.dropWhere(func(e *cacheEntry) bool { return e.user.ID == u.ID })
	return u, nil
}

// AdminRevokeUser revokes every session of user id (all their devices) and
// returns how many were live.
func (s *Service) AdminRevokeUser(ctx context.Context, id string) (int, error) {
	c, err := admin(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := s.tenantUser(ctx, c.TenantID, id); err != nil {
		return 0, err
	}
	n, err := s.store.RevokeSessions(ctx, fieldsync.SessionFilter{TenantID: c.TenantID, UserID: id}, s.now(), "revoked by admin")
	if err != nil {
		return 0, err
	}
	s.cache.dropWhere(func(e *cacheEntry) bool { return e.user.ID == id })
	return n, nil
}

// AdminRevokeDevice revokes every session on device id in the caller's
// tenant (every user who signed in on that phone): a lost phone is cut off
// on its next request. It returns how many sessions were live.
func (s *Service) AdminRevokeDevice(ctx context.Context, deviceID string) (int, error) {
	c, err := admin(ctx)
	if err != nil {
		return 0, err
	}
	if !validDeviceID.MatchString(deviceID) {
		return 0, fieldsync.FieldErrorf("device_id", "1-128 letters, digits, '.', '_', ':' or '-'")
	}
	n, err := s.store.RevokeSessions(ctx, fieldsync.SessionFilter{TenantID: c.TenantID, DeviceID: deviceID}, s.now(), "device revoked by admin")
	if err != nil {
		return 0, err
	}
	s.cache.dropWhere(func(e *cacheEntry) bool { return e.sess.TenantID == c.TenantID && e.sess.DeviceID == deviceID })
	return n, nil
}

// AdminUserDevices lists the devices user id has signed in on, newest use first.
func (s *Service) AdminUserDevices(ctx context.Context, id string) ([]fieldsync.Device, error) {
	c, err := admin(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.tenantUser(ctx, c.TenantID, id); err != nil {
		return nil, err
	}
	sessions, err := s.store.SessionsOfUser(ctx, c.TenantID, id)
	if err != nil {
		return nil, err
	}
	return devicesOf(sessions, s.now()), nil
}

// devicesOf folds sessions into one entry per device (done in Go: $group is unreliable on FerretDB).
func devicesOf(sessions []*fieldsync.Session, now time.Time) []fieldsync.Device {
	byID := map[string]*fieldsync.Device{}
	var order []string
	for _, ss := range sessions {
		d := byID[ss.DeviceID]
		if d == nil {
			d = &fieldsync.Device{ID: ss.DeviceID, UserID: ss.UserID, FirstSeen: ss.CreatedAt, LastSeen: ss.LastUsedAt}
			byID[ss.DeviceID] = d
			order = append(order, ss.DeviceID)
		}
		d.Sessions++
		d.FirstSeen = minTime(d.FirstSeen, ss.CreatedAt)
		if ss.LastUsedAt.After(d.LastSeen) {
			d.LastSeen = ss.LastUsedAt
		}
		if ss.Active(now) {
			d.Active = true
			if ss.ExpiresAt.After(d.ActiveUntil) {
				d.ActiveUntil = ss.ExpiresAt
			}
		}
	}
	out := make([]fieldsync.Device, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	slices.SortFunc(out, func(a, b fieldsync.Device) int { return b.LastSeen.Compare(a.LastSeen) })
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// User returns user id of tenant (without its password hash); not_found for
// an unknown id or a user of another tenant. It implements fieldsync.UserFinder.
func (s *Service) User(ctx context.Context, tenant, id string) (*fieldsync.User, error) {
	u, err := s.tenantUser(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	u.PasswordHash = ""
	return u, nil
}

var _ fieldsync.UserFinder = (*Service)(nil)
