package coord

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Group keys (format):
//
//	groups/<group>/coordinator              {broker}  on the coordinator broker's lease
//	groups/<group>/meta                     the coordinator's group state (opaque bytes)
//	groups/<group>/offsets/<topic>/<p>      {offset, metadata, memberEpoch}
//
// A broker becomes a group's coordinator by putting the coordinator key on
// its session lease (Claim); the key vanishes when the broker's lease
// expires, so another broker can claim the group. Every later write of the
// coordinator is conditional on the claim's create revision (a deposed
// coordinator's writes fail) and, for offset commits, on the meta key's
// mod revision: the member epochs the coordinator checked a commit against
// are still the stored ones. One commit call is one transaction.
const dirGroups = "groups/"

func (k keys) groupDir(g string) string         { return k.prefix + dirGroups + g + "/" }
func (k keys) groupCoordinator(g string) string { return k.groupDir(g) + "coordinator" }
func (k keys) groupMeta(g string) string        { return k.groupDir(g) + "meta" }
func (k keys) groupOffsets(g string) string     { return k.groupDir(g) + "offsets/" }
func (k keys) groupOffset(g, topic string, p int32) string {
	return k.groupOffsets(g) + topic + "/" + strconv.FormatInt(int64(p), 10)
}

// CommittedOffset is one partition's committed position in a group.
type CommittedOffset struct {
	Topic       string `json:"topic"`
	Partition   int32  `json:"partition"`
	Offset      int64  `json:"offset"`
	Metadata    string `json:"metadata,omitempty"`
	MemberEpoch int32  `json:"memberEpoch"`
}

// GroupClaim is a broker's claim to coordinate one group.
type GroupClaim struct {
	Group    string
	Broker   int32
	Revision int64 // create revision of the coordinator key: the fence
	lease    int64
}

// GroupRecord is what etcd holds for a group.
type GroupRecord struct {
	Group        string
	Coordinator  int32 // -1: none claimed
	Meta         []byte
	MetaRevision int64 // 0: no meta yet
	Offsets      []CommittedOffset
}

// GroupStore persists consumer groups. Both coordinators implement it.
type GroupStore interface {
	// Claim makes broker (holding session s) the group's coordinator, or
	// confirms it already is. ErrConflict (wrapped, with the holder) when
	// another live broker holds the group.
	Claim(ctx context.Context, s Session, group string, broker int32) (GroupClaim, error)
	// Load reads the group's coordinator, meta and offsets.
	Load(ctx context.Context, group string) (GroupRecord, error)
	// SaveMeta replaces the meta if it still has mod revision expect (0:
	// absent). ErrConflict otherwise; ErrNotCoordinator when the claim is
	// gone.
	SaveMeta(ctx context.Context, c GroupClaim, meta []byte, expect int64) (rev int64, err error)
	// Commit writes offsets in one transaction if the claim holds and the
	// meta still has mod revision metaRev.
	Commit(ctx context.Context, c GroupClaim, metaRev int64, offsets []CommittedOffset) (rev int64, err error)
	// List names every group with a meta or committed offsets.
	List(ctx context.Context) ([]string, error)
	// Delete removes the group's meta and offsets (the claim stays).
	Delete(ctx context.Context, c GroupClaim) error
	// Release gives the claim up (the coordinator key is deleted if it is
	// still this claim's), so another broker can claim the group.
	Release(ctx context.Context, c GroupClaim) error
}

// ErrNotCoordinator: the write's group claim is gone (the broker's lease
// expired and another broker may coordinate the group now).
var ErrNotCoordinator = errors.New("coord: not the group's coordinator")

// MaxGroupNameLen bounds group ids like topic names.
const MaxGroupNameLen = 249

func checkGroupName(g string) error {
	if g == "" || len(g) > MaxGroupNameLen || strings.ContainsAny(g, "/\x00") {
		return fmt.Errorf("%w: group name %q", ErrInvalid, g)
	}
	return nil
}

type coordinatorValue struct {
	Broker int32 `json:"broker"`
}
