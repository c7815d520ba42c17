package mongodb

import (
	"context"
	"time"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// collSettings holds the company's settings: one document per tenant and
// level (the tenant, or one site).
const collSettings = "settings"

// Settings keeps the deadline settings (fieldsync.SettingsService) and
// finds the effective ones for the sync engine (fieldsync.DeadlineFinder).
type Settings struct {
	Store *Store
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

var (
	_ fieldsync.SettingsService = (*Settings)(nil)
	_ fieldsync.DeadlineFinder  = (*Settings)(nil)
)

// settingsDoc is a stored level of settings; the deadlines are kept as the
// JSON-shaped document of fieldsync.DeadlineSettings.
type settingsDoc struct {
	ID        string       `bson:"_id"`
	Tenant    string       `bson:"t"`
	Site      string       `bson:"s"`
	Deadlines deadlinesDoc `bson:"deadlines"`
	UpdatedAt time.Time    `bson:"updated_at"`
	UpdatedBy string       `bson:"updated_by"`
}

type deadlinesDoc struct {
	WorkOrders        map[string]slaDoc `bson:"work_orders,omitempty"`
	ComplaintStages   map[string]int64  `bson:"complaint_stages,omitempty"`
	EscalationMinutes int64             `bson:"escalation,omitempty"`
	CallbackMinutes   int64             `bson:"callback,omitempty"`
}

type slaDoc struct {
	Respond int64 `bson:"respond,omitempty"`
	Resolve int64 `bson:"resolve,omitempty"`
}

func toDoc(s fieldsync.DeadlineSettings) deadlinesDoc {
	d := deadlinesDoc{ComplaintStages: s.ComplaintStages, EscalationMinutes: s.EscalationMinutes, CallbackMinutes: s.CallbackMinutes}
	if len(s.WorkOrders) > 0 {
		d.WorkOrders = map[string]slaDoc{}
		for p, v := range s.WorkOrders {
			d.WorkOrders[p] = slaDoc{v.RespondMinutes, v.ResolveMinutes}
		}
	}
	return d
}

func (d deadlinesDoc) settings() fieldsync.DeadlineSettings {
	s := fieldsync.DeadlineSettings{ComplaintStages: d.ComplaintStages, EscalationMinutes: d.EscalationMinutes, CallbackMinutes: d.CallbackMinutes}
	if len(d.WorkOrders) > 0 {
		s.WorkOrders = map[string]fieldsync.SLAMinutes{}
		for p, v := range d.WorkOrders {
			s.WorkOrders[p] = fieldsync.SLAMinutes{RespondMinutes: v.Respond, ResolveMinutes: v.Resolve}
		}
	}
	return s
}

func settingsID(tenant, site string) string { return "deadlines/" + tenant + "/" + site }

// levels reads the tenant's and the site's settings (absent: zero).
func (st *Settings) levels(ctx context.Context, tenant, site string) (tl, sl *settingsDoc, err error) {
	ids := bson.A{settingsID(tenant, "")}
	if site != "" {
		ids = append(ids, settingsID(tenant, site))
	}
	cur, err := st.Store.DB.Collection(collSettings).Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, nil, mapError(err)
	}
	var docs []*settingsDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, nil, mapError(err)
	}
	for _, d := range docs {
		if d.Site == "" {
			tl = d
		} else {
			sl = d
		}
	}
	return tl, sl, nil
}

// EffectiveDeadlines implements fieldsync.DeadlineFinder.
func (st *Settings) EffectiveDeadlines(ctx context.Context, tenant, site string) (fieldsync.DeadlineSettings, error) {
	tl, sl, err := st.levels(ctx, tenant, site)
	if err != nil {
		return fieldsync.DeadlineSettings{}, err
	}
	return effective(tl, sl), nil
}

func effective(tl, sl *settingsDoc) fieldsync.DeadlineSettings {
	eff := fieldsync.DefaultDeadlineSettings()
	if tl != nil {
		eff = tl.Deadlines.settings().Over(eff)
	}
	if sl != nil {
		eff = sl.Deadlines.settings().Over(eff)
	}
	return eff
}

// DeadlineSettings implements fieldsync.SettingsService.
func (st *Settings) DeadlineSettings(ctx context.Context, site string) (*fieldsync.DeadlineSettingsView, error) {
	c := fieldsync.CallerFromContext(ctx)
	if c == nil || !c.Role.IsDesk() || (site != "" && !c.HasSite(site)) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "deadline settings are for the desk of the site and admins")
	}
	tl, sl, err := st.levels(ctx, c.TenantID, site)
	if err != nil {
		return nil, err
	}
	return view(site, tl, sl), nil
}

func view(site string, tl, sl *settingsDoc) *fieldsync.DeadlineSettingsView {
	v := &fieldsync.DeadlineSettingsView{SiteID: site, Effective: effective(tl, sl)}
	at := tl
	if site != "" {
		at = sl
	}
	if at != nil {
		v.Settings = at.Deadlines.settings()
		t := at.UpdatedAt.UTC()
		v.UpdatedAt, v.UpdatedBy = &t, at.UpdatedBy
	}
	return v
}

// SetDeadlineSettings implements fieldsync.SettingsService.
func (st *Settings) SetDeadlineSettings(ctx context.Context, site string, s fieldsync.DeadlineSettings) (*fieldsync.DeadlineSettingsView, error) {
	c := fieldsync.CallerFromContext(ctx)
	if !fieldsync.CanAdminister(c) {
		return nil, fieldsync.Errorf(fieldsync.EForbidden, "only admins change deadline settings")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	now := time.Now
	if st.Now != nil {
		now = st.Now
	}
	doc := settingsDoc{ID: settingsID(c.TenantID, site), Tenant: c.TenantID, Site: site, Deadlines: toDoc(s),
		UpdatedAt: now().UTC().Truncate(time.Millisecond), UpdatedBy: c.UserID}
	_, err := st.Store.DB.Collection(collSettings).ReplaceOne(ctx, bson.M{"_id": doc.ID}, doc, options.Replace().SetUpsert(true))
	if err != nil {
		return nil, mapError(err)
	}
	tl, sl, err := st.levels(ctx, c.TenantID, site)
	if err != nil {
		return nil, err
	}
	return view(site, tl, sl), nil
}
