package fieldsync

import (
	"math"
	"sort"
	"time"
)

// GPS is a position as phones report it.
type GPS struct {
	Lat      float64 `json:"lat"`
	Lng      float64 `json:"lng"`
	Accuracy float64 `json:"accuracy,omitempty"`
}

// DistanceMeters is the great-circle distance between a and b.
func DistanceMeters(a, b GPS) float64 {
	const r = 6371000.0
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLng := (b.Lng - a.Lng) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// RouteStop is a checkpoint on a patrol route with its time window, as offsets
// from the round's start.
type RouteStop struct {
	CheckpointID string
	Code         string
	Location     *GPS
	WindowStart  time.Duration
	WindowEnd    time.Duration
}

// Scan is one checkpoint scan of a round.
type Scan struct {
	CheckpointID string
	Code         string
	ScannedAt    time.Time
	GPS          *GPS
}

// RoundSummary is what a round's scans say about its route.
type RoundSummary struct {
	Missed     []string `json:"missed"`       // checkpoint ids never scanned whose window has closed, or the round ended
	Late       []string `json:"late"`         // checkpoint ids first scanned after their window
	OutOfOrder []string `json:"out_of_order"` // checkpoint ids scanned before an earlier stop of the route
	OffRoute   []int    `json:"off_route"`    // indexes of scans whose code is not on the route
	FarAway    []int    `json:"far_away"`     // indexes of scans farther than the site's threshold from their checkpoint
	Pending    []string `json:"pending"`      // checkpoint ids not yet scanned whose window is still open (none once ended)
}

// Round is what SummarizeRound needs to know about a patrol round.
type Round struct {
	Stops   []RouteStop
	Started time.Time
	// Ended is true once the guard ended the round: every stop not scanned is
	// then missed, whether or not its window has closed (nobody will scan it).
	Ended bool
	Scans []Scan
	// MaxDistance is the site's threshold in meters; <= 0 skips the distance check.
	MaxDistance float64
}

// SummarizeRound checks a round's scans against its route at time now: every
// scan is kept (the caller stores them all); this only classifies them.
func SummarizeRound(r Round, now time.Time) RoundSummary {
	stops, started, scans, maxDistance := r.Stops, r.Started, r.Scans, r.MaxDistance
	sum := RoundSummary{Missed: []string{}, Late: []string{}, OutOfOrder: []string{}, OffRoute: []int{}, FarAway: []int{}, Pending: []string{}}
	idx := map[string]int{}
	for i, s := range stops {
		idx[s.CheckpointID] = i
		if s.Code != "" {
			idx["code:"+s.Code] = i
		}
	}
	order := make([]int, len(scans))
	for i := range scans {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scans[order[a]].ScannedAt.Before(scans[order[b]].ScannedAt) })
	first := map[int]time.Time{}
	highest := -1
	for _, si := range order {
		sc := scans[si]
		stop, ok := idx[sc.CheckpointID]
		if !ok && sc.Code != "" {
			stop, ok = idx["code:"+sc.Code]
		}
		if !ok {
			sum.OffRoute = append(sum.OffRoute, si)
			continue
		}
		if maxDistance > 0 && sc.GPS != nil && stops[stop].Location != nil && DistanceMeters(*sc.GPS, *stops[stop].Location) > maxDistance {
			sum.FarAway = append(sum.FarAway, si)
		}
		if _, seen := first[stop]; seen {
			continue
		}
		first[stop] = sc.ScannedAt
		if stop < highest {
			sum.OutOfOrder = append(sum.OutOfOrder, stops[stop].CheckpointID)
		} else {
			highest = stop
		}
	}
	for i, s := range stops {
		at, ok := first[i]
		switch {
		case ok && s.WindowEnd > 0 && at.After(started.Add(s.WindowEnd)):
			sum.Late = append(sum.Late, s.CheckpointID)
		case !ok && (r.Ended || s.WindowEnd > 0 && now.After(started.Add(s.WindowEnd))):
			sum.Missed = append(sum.Missed, s.CheckpointID)
		case !ok:
			sum.Pending = append(sum.Pending, s.CheckpointID)
		}
	}
	return sum
}
