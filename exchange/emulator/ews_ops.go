package emulator

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tfsync/exchange"
)

// This file holds the EWS front's operations. The calendar item's wire form is in ews_item.go.

// ewsSendValues are the values of SendMeetingInvitations and SendMeetingCancellations
// (CalendarItemCreateOrDeleteOperationType).
var ewsSendValues = []string{"SendToNone", "SendOnlyToAll", "SendToAllAndSaveCopy"}

// ewsUpdateSendValues are the values of SendMeetingInvitationsOrCancellations (CalendarItemUpdateOperationType).
var ewsUpdateSendValues = []string{"SendToNone", "SendOnlyToAll", "SendOnlyToChanged", "SendToAllAndSaveCopy",
	"SendToChangedAndSaveCopy"}

// ewsTargetFolder returns the folder element of a TargetFolderIdType (SavedItemFolderId, SyncFolderId) or of
// ParentFolderIds.
func ewsTargetFolder(n *ewsNode) (*ewsNode, *ewsFault) {
	if len(n.kids) == 0 {
		return nil, ewsSchemaFault(n, "The element '%s' has incomplete content. List of possible elements expected: "+
			"'FolderId, DistinguishedFolderId'.", n.name.Local)
	}
	if len(n.kids) > 1 {
		if n.name.Local == "ParentFolderIds" {
			return nil, ewsSchemaFault(n.kids[1], "The emulator searches one folder per FindItem.")
		}
		return nil, ewsSchemaFault(n.kids[1], "The element '%s' has invalid child element '%s'.", n.name.Local,
			n.kids[1].name.Local)
	}
	k := n.kids[0]
	folders := []string{"FolderId", "DistinguishedFolderId", "AddressListId"}
	if k.name.Space != nsEWSTypes || !ewsContains(folders, k.name.Local) {
		return nil, ewsSchemaFault(k, "The element '%s' has invalid child element '%s' in namespace '%s'.",
			n.name.Local, k.name.Local, k.name.Space)
	}
	return k, nil
}

// ewsItemIDs reads an array of item ids (ItemIds, Ignore): each t:ItemId's Id and ChangeKey.
type ewsItemRef struct {
	id, changeKey string
	node          *ewsNode
	// other is set for OccurrenceItemId and RecurringMasterItemId, which the emulator's single items never match.
	other bool
}

func ewsItemIDs(n *ewsNode, nonEmpty bool) ([]ewsItemRef, *ewsFault) {
	if nonEmpty && len(n.kids) == 0 {
		return nil, ewsSchemaFault(n, "The element '%s' has incomplete content. List of possible elements expected: "+
			"'ItemId'.", n.name.Local)
	}
	var out []ewsItemRef
	for _, k := range n.kids {
		if k.name.Space != nsEWSTypes {
			return nil, ewsSchemaFault(k, "The element '%s' has invalid child element '%s' in namespace '%s'.",
				n.name.Local, k.name.Local, k.name.Space)
		}
		switch k.name.Local {
		case "ItemId":
			id, f := ewsRequireAttr(k, "Id")
			if f != nil {
				return nil, f
			}
			ck, _ := k.attr("ChangeKey")
			out = append(out, ewsItemRef{id: id, changeKey: ck, node: k})
		case "OccurrenceItemId", "RecurringMasterItemId":
			out = append(out, ewsItemRef{node: k, other: true})
		default:
			return nil, ewsSchemaFault(k, "The element '%s' has invalid child element '%s'.", n.name.Local, k.name.Local)
		}
	}
	return out, nil
}

// ewsAccessCache caches access checks per mailbox within one request, so each mailbox is counted once.
type ewsAccessCache struct {
	req     *ewsRequest
	checked map[string]*ewsErr
}

// newAccess starts the access checks of an operation on items. Under impersonation the impersonated mailbox is
// checked at once, so a denied impersonation faults the request even when none of its ids resolve.
func (req *ewsRequest) newAccess() (*ewsAccessCache, *ewsFault) {
	a := &ewsAccessCache{req: req, checked: map[string]*ewsErr{}}
	if req.impersonate != "" {
		if _, f := a.check(req.impersonate); f != nil {
			return nil, f
		}
	}
	return a, nil
}

func (a *ewsAccessCache) check(mailbox string) (*ewsErr, *ewsFault) {
	if e, ok := a.checked[mailbox]; ok {
		return e, nil
	}
	e, f := a.req.access(mailbox, false)
	if f != nil {
		return nil, f
	}
	a.checked[mailbox] = e
	return e, nil
}

// firstMailbox is the mailbox the request's first resolvable item lives in: the one limits and faults count.
func (req *ewsRequest) firstMailbox(refs []ewsItemRef) string {
	if req.impersonate != "" {
		return req.impersonate
	}
	for _, r := range refs {
		if r.other {
			continue
		}
		if mb, ok := req.itemMailbox(r.id); ok {
			return mb
		}
	}
	return ""
}

// createItem: CreateItem of calendar items in a mailbox's calendar.
func (req *ewsRequest) createItem() (ewsOp, *ewsFault) {
	op := req.op
	if f := ewsCheckOrder(op, nsEWSMsg, []string{"SavedItemFolderId", "Items"}); f != nil {
		return ewsOp{}, f
	}
	_, hasSend, f := ewsEnumAttr(op, "SendMeetingInvitations", ewsSendValues...)
	if f != nil {
		return ewsOp{}, f
	}
	if _, _, f := ewsEnumAttr(op, "MessageDisposition", "SaveOnly", "SendOnly", "SendAndSaveCopy"); f != nil {
		return ewsOp{}, f
	}
	items, f := ewsRequire(op, nsEWSMsg, "Items")
	if f != nil {
		return ewsOp{}, f
	}
	if len(items.kids) == 0 {
		return ewsOp{}, ewsSchemaFault(items, "The element 'Items' has incomplete content.")
	}
	var folder *ewsNode
	if saved := op.child(nsEWSMsg, "SavedItemFolderId"); saved != nil {
		if folder, f = ewsTargetFolder(saved); f != nil {
			return ewsOp{}, f
		}
	}
	type parsed struct {
		fields []ewsField
		err    *ewsErr
	}
	var all []parsed
	for _, it := range items.kids {
		if it.name.Space != nsEWSTypes {
			return ewsOp{}, ewsSchemaFault(it, "The element 'Items' has invalid child element '%s' in namespace '%s'.",
				it.name.Local, it.name.Space)
		}
		if it.name.Local != "CalendarItem" {
			all = append(all, parsed{err: ewsItemErr("ErrorInvalidRequest", "The emulator creates calendar items "+
				"only, not "+it.name.Local+".")})
			continue
		}
		fields, f := req.parseCalendarItem(it)
		if f != nil {
			return ewsOp{}, f
		}
		all = append(all, parsed{fields: fields})
	}
	mailbox, folderErr, f := req.folderMailbox(folder)
	if f != nil {
		return ewsOp{}, f
	}
	return ewsOp{mailbox: mailbox, exec: func() (string, *ewsFault) {
		fail := func(e *ewsErr) string { return ewsErrorMessage("CreateItem", e, "<m:Items/>") }
		var msgs []string
		folderErr, f := req.folderAccess(mailbox, folderErr, false)
		if f != nil {
			return "", f
		}
		for _, p := range all {
			if folderErr != nil {
				msgs = append(msgs, fail(folderErr))
				continue
			}
			if p.err != nil {
				msgs = append(msgs, fail(p.err))
				continue
			}
			if !hasSend {
				msgs = append(msgs, fail(ewsItemErr("ErrorSendMeetingInvitationsRequired")))
				continue
			}
			// A new calendar item has Exchange's default reminder (15 minutes) and is written in the request's
			// time zone unless it names its own.
			d := EventData{ReminderOn: true, ReminderMinutes: 15, TimeZone: req.zoneID}
			var e *ewsErr
			for _, fl := range p.fields {
				if e = ewsApplyField(&d, fl); e != nil {
					break
				}
			}
			if e == nil {
				e = ewsFinishEvent(&d)
			}
			req.s.em.ewsSaveBody(&d)
			if e != nil {
				msgs = append(msgs, fail(e))
				continue
			}
			stored, _, err := req.s.em.createEvent(mailbox, d)
			if err != nil {
				msgs = append(msgs, fail(ewsStateErr(err)))
				continue
			}
			var w ewsXMLBuilder
			w.start("m:Items")
			w.start("t:CalendarItem")
			w.empty("t:ItemId", "Id", req.s.em.ewsWireID(stored.ID), "ChangeKey", stored.ChangeKey)
			w.end("t:CalendarItem")
			w.end("m:Items")
			msgs = append(msgs, ewsSuccess("CreateItem", w.String()))
		}
		return ewsResponses("CreateItem", msgs), nil
	}}, nil
}

// ewsItemUpdate is one SetItemField or DeleteItemField.
type ewsItemUpdate struct {
	set    *ewsField // SetItemField's property
	del    string    // DeleteItemField's element name
	delKey PropKey   // DeleteItemField's extended property
	isProp bool
}

// ewsItemChange is one ItemChange of UpdateItem, or the per-item error its description already deserves.
type ewsItemChange struct {
	ref     ewsItemRef
	updates []ewsItemUpdate
	err     *ewsErr
}

// updateItem: UpdateItem with SetItemField and DeleteItemField on calendar items.
func (req *ewsRequest) updateItem() (ewsOp, *ewsFault) {
	op := req.op
	if f := ewsCheckOrder(op, nsEWSMsg, []string{"SavedItemFolderId", "ItemChanges"}); f != nil {
		return ewsOp{}, f
	}
	resolution, f := ewsRequireAttr(op, "ConflictResolution")
	if f != nil {
		return ewsOp{}, f
	}
	if _, _, f := ewsEnumAttr(op, "ConflictResolution", "NeverOverwrite", "AutoResolve", "AlwaysOverwrite"); f != nil {
		return ewsOp{}, f
	}
	_, hasSend, f := ewsEnumAttr(op, "SendMeetingInvitationsOrCancellations", ewsUpdateSendValues...)
	if f != nil {
		return ewsOp{}, f
	}
	changesNode, f := ewsRequire(op, nsEWSMsg, "ItemChanges")
	if f != nil {
		return ewsOp{}, f
	}
	if len(changesNode.kids) == 0 {
		return ewsOp{}, ewsSchemaFault(changesNode, "The element 'ItemChanges' has incomplete content.")
	}
	var changes []ewsItemChange
	var refs []ewsItemRef
	for _, ch := range changesNode.kids {
		if ch.name.Space != nsEWSTypes || ch.name.Local != "ItemChange" {
			return ewsOp{}, ewsSchemaFault(ch, "The element 'ItemChanges' has invalid child element '%s'.", ch.name.Local)
		}
		c, f := req.parseItemChange(ch)
		if f != nil {
			return ewsOp{}, f
		}
		changes = append(changes, c)
		refs = append(refs, c.ref)
	}
	return ewsOp{mailbox: req.firstMailbox(refs), exec: func() (string, *ewsFault) {
		fail := func(e *ewsErr) string { return ewsErrorMessage("UpdateItem", e, "<m:Items/>") }
		acc, f := req.newAccess()
		if f != nil {
			return "", f
		}
		var msgs []string
		for _, c := range changes {
			mailbox, found := "", false
			if !c.ref.other {
				mailbox, found = req.itemMailbox(c.ref.id)
			}
			if !found {
				msgs = append(msgs, fail(ewsItemErr("ErrorItemNotFound")))
				continue
			}
			e, f := acc.check(mailbox)
			if f != nil {
				return "", f
			}
			switch {
			case e != nil:
			case c.err != nil:
				e = c.err
			case !hasSend:
				e = ewsItemErr("ErrorSendMeetingInvitationsOrCancellationsRequired")
			case resolution != "AlwaysOverwrite" && c.ref.changeKey == "":
				e = ewsItemErr("ErrorChangeKeyRequiredForWriteOperations")
			case req.s.em.takeConflict(mailbox, canonicalID(c.ref.id)):
				e = ewsItemErr("ErrorIrresolvableConflict")
			}
			if e != nil {
				msgs = append(msgs, fail(e))
				continue
			}
			// MS-OXWSCORE 3.1.4.9.4.1 (ConflictResolutionType): AlwaysOverwrite overwrites; AutoResolve "automatically
			// resolves any conflict", in most cases by overwriting, but keeps some server values (its example: a
			// Sensitivity raised to Confidential by another user survives a stale update setting it back);
			// only NeverOverwrite fails a stale change key with ErrorIrresolvableConflict. (The lenient emulator
			// treats AutoResolve like NeverOverwrite, as the emulator once did.)
			ifKey := c.ref.changeKey
			switch {
			case resolution == "AlwaysOverwrite":
				ifKey = ""
			case resolution == "AutoResolve" && !req.s.em.lenient:
				ifKey = ""
			}
			conflicts := 0
			stored, err := req.s.em.updateEvent(mailbox, c.ref.id, ifKey, func(d *EventData) error {
				stale := c.ref.changeKey != "" && c.ref.changeKey != d.ChangeKey
				kept := d.Sensitivity
				for _, u := range c.updates {
					if e := ewsApplyUpdate(d, u); e != nil {
						return e
					}
				}
				if resolution == "AutoResolve" && stale && kept != "normal" && kept != "" && d.Sensitivity != kept {
					// ConflictResults counts the properties whose server value was kept.
					d.Sensitivity, conflicts = kept, 1
				}
				if e := ewsFinishEvent(d); e != nil {
					return e
				}
				req.s.em.ewsSaveBody(d)
				return nil
			})
			if err != nil {
				msgs = append(msgs, fail(ewsStateErr(err)))
				continue
			}
			var w ewsXMLBuilder
			w.start("m:Items")
			w.start("t:CalendarItem")
			w.empty("t:ItemId", "Id", req.s.em.ewsWireID(stored.ID), "ChangeKey", stored.ChangeKey)
			w.end("t:CalendarItem")
			w.end("m:Items")
			w.start("m:ConflictResults")
			w.leaf("t:Count", strconv.Itoa(conflicts))
			w.end("m:ConflictResults")
			msgs = append(msgs, ewsSuccess("UpdateItem", w.String()))
		}
		return ewsResponses("UpdateItem", msgs), nil
	}}, nil
}

// parseItemChange reads an ItemChange. Schema violations are faults; updates the emulator cannot apply (a
// property it does not store, a mismatched or multi-property SetItemField, AppendToItemField) become the change's
// per-item error, as Exchange reports them.
func (req *ewsRequest) parseItemChange(ch *ewsNode) (ewsItemChange, *ewsFault) {
	var c ewsItemChange
	if len(ch.kids) != 2 || ch.kids[1].name.Local != "Updates" || ch.kids[1].name.Space != nsEWSTypes {
		return c, ewsSchemaFault(ch, "The element 'ItemChange' must hold an item id followed by 'Updates'.")
	}
	refs, f := ewsItemIDs(&ewsNode{name: ch.name, kids: ch.kids[:1]}, true)
	if f != nil {
		return c, f
	}
	c.ref = refs[0]
	updates := ch.kids[1]
	if len(updates.kids) == 0 {
		return c, ewsSchemaFault(updates, "The element 'Updates' has incomplete content.")
	}
	for _, u := range updates.kids {
		if u.name.Space != nsEWSTypes {
			return c, ewsSchemaFault(u, "The element 'Updates' has invalid child element '%s'.", u.name.Local)
		}
		switch u.name.Local {
		case "SetItemField", "DeleteItemField":
		case "AppendToItemField":
			if c.err == nil {
				c.err = ewsItemErr("ErrorInvalidPropertyAppend", "The emulator cannot append to properties.")
			}
			continue
		default:
			return c, ewsSchemaFault(u, "The element 'Updates' has invalid child element '%s'.", u.name.Local)
		}
		if len(u.kids) == 0 {
			return c, ewsSchemaFault(u, "The element '%s' has incomplete content.", u.name.Local)
		}
		path := u.kids[0]
		var field string // the CalendarItem element the path names; "ExtendedProperty" for an extended one
		var key PropKey
		switch {
		case path.name.Space == nsEWSTypes && path.name.Local == "FieldURI":
			uri, f := ewsRequireAttr(path, "FieldURI")
			if f != nil {
				return c, f
			}
			field = ewsSettableFields[uri]
			if field == "" && c.err == nil {
				c.err = ewsItemErr("ErrorInvalidPropertySet", fmt.Sprintf("Set action is invalid for property: the "+
					"emulator does not change %s.", uri))
			}
		case path.name.Space == nsEWSTypes && path.name.Local == "ExtendedFieldURI":
			p, f := ewsParseExtPath(path)
			if f != nil {
				return c, f
			}
			field, key = "ExtendedProperty", p.key
		case path.name.Space == nsEWSTypes && path.name.Local == "IndexedFieldURI":
			if c.err == nil {
				c.err = ewsItemErr("ErrorInvalidPropertySet", "The emulator does not store indexed properties.")
			}
		default:
			return c, ewsSchemaFault(path, "The element '%s' has invalid child element '%s'.", u.name.Local,
				path.name.Local)
		}
		if u.name.Local == "DeleteItemField" {
			if len(u.kids) != 1 {
				return c, ewsSchemaFault(u.kids[1], "The element 'DeleteItemField' has invalid child element '%s'.",
					u.kids[1].name.Local)
			}
			if field != "" {
				c.updates = append(c.updates, ewsItemUpdate{del: field, delKey: key, isProp: field == "ExtendedProperty"})
			}
			continue
		}
		if len(u.kids) != 2 || u.kids[1].name.Space != nsEWSTypes {
			return c, ewsSchemaFault(u, "The element 'SetItemField' must hold a property path and one item element.")
		}
		fields, f := req.parseCalendarItem(u.kids[1])
		if f != nil {
			return c, f
		}
		switch {
		case field == "":
		case len(fields) != 1:
			if c.err == nil {
				c.err = ewsItemErr("ErrorIncorrectUpdatePropertyCount", "An object within a change description must "+
					"contain one and only one property to modify.")
			}
		case fields[0].name != field || (field == "ExtendedProperty" && fields[0].prop.key != key):
			if c.err == nil {
				c.err = ewsItemErr("ErrorUpdatePropertyMismatch", "The property to update does not match the "+
					"property path of the change description.")
			}
		default:
			c.updates = append(c.updates, ewsItemUpdate{set: &fields[0]})
		}
	}
	return c, nil
}

// ewsApplyUpdate applies one SetItemField or DeleteItemField. Deleting a property returns it to what a new item has;
// the times and time zones cannot be deleted.
func ewsApplyUpdate(d *EventData, u ewsItemUpdate) error {
	if u.set != nil {
		if e := ewsApplyField(d, *u.set); e != nil {
			return e
		}
		return nil
	}
	switch u.del {
	case "Subject":
		d.Subject = ""
	case "Location":
		d.Location = ""
	case "Body":
		d.Body, d.BodyType = "", "text"
	case "Categories":
		d.Categories = nil
	case "Sensitivity":
		d.Sensitivity = "normal"
	case "ReminderIsSet":
		d.ReminderOn = false
	case "ReminderMinutesBeforeStart":
		d.ReminderMinutes = 0
	case "LegacyFreeBusyStatus":
		d.ShowAs = exchange.ShowBusy
	case "IsAllDayEvent":
		d.IsAllDay = false
	case "ExtendedProperty":
		delete(d.ExtProps, u.delKey)
	default:
		return ewsItemErr("ErrorInvalidPropertyDelete", fmt.Sprintf("The property %s cannot be deleted.", u.del))
	}
	return nil
}

// deleteItem: DeleteItem of calendar items.
func (req *ewsRequest) deleteItem() (ewsOp, *ewsFault) {
	op := req.op
	if f := ewsCheckOrder(op, nsEWSMsg, []string{"ItemIds"}); f != nil {
		return ewsOp{}, f
	}
	if _, f := ewsRequireAttr(op, "DeleteType"); f != nil {
		return ewsOp{}, f
	}
	if _, _, f := ewsEnumAttr(op, "DeleteType", "HardDelete", "SoftDelete", "MoveToDeletedItems"); f != nil {
		return ewsOp{}, f
	}
	_, hasSend, f := ewsEnumAttr(op, "SendMeetingCancellations", ewsSendValues...)
	if f != nil {
		return ewsOp{}, f
	}
	return req.perItem(op, "DeleteItem", "", func(mailbox string, ref ewsItemRef) (string, *ewsErr) {
		if !hasSend {
			return "", ewsItemErr("ErrorSendMeetingCancellationsRequired")
		}
		if err := req.s.em.deleteEvent(mailbox, ref.id); err != nil {
			return "", ewsStateErr(err)
		}
		return "", nil
	})
}

// getItem: GetItem of one or more items by id.
func (req *ewsRequest) getItem() (ewsOp, *ewsFault) {
	op := req.op
	if f := ewsCheckOrder(op, nsEWSMsg, []string{"ItemShape", "ItemIds"}); f != nil {
		return ewsOp{}, f
	}
	shapeNode, f := ewsRequire(op, nsEWSMsg, "ItemShape")
	if f != nil {
		return ewsOp{}, f
	}
	sh, f := ewsParseShape(shapeNode)
	if f != nil {
		return ewsOp{}, f
	}
	return req.perItem(op, "GetItem", "<m:Items/>", func(mailbox string, ref ewsItemRef) (string, *ewsErr) {
		d, err := req.s.em.getEvent(mailbox, ref.id)
		if err != nil {
			return "", ewsStateErr(err)
		}
		var w ewsXMLBuilder
		w.start("m:Items")
		req.s.em.ewsRenderItem(&w, d, sh, false)
		w.end("m:Items")
		return w.String(), nil
	})
}

// perItem is the shape DeleteItem and GetItem share: parse the ItemIds, then for each item find its mailbox, check
// the caller's access to it (a fault ends the request, as Exchange's do) and run do, one response message per item.
func (req *ewsRequest) perItem(op *ewsNode, name, emptyItems string, do func(mailbox string, ref ewsItemRef) (string, *ewsErr)) (ewsOp, *ewsFault) {
	idsNode, f := ewsRequire(op, nsEWSMsg, "ItemIds")
	if f != nil {
		return ewsOp{}, f
	}
	refs, f := ewsItemIDs(idsNode, true)
	if f != nil {
		return ewsOp{}, f
	}
	return ewsOp{mailbox: req.firstMailbox(refs), exec: func() (string, *ewsFault) {
		acc, f := req.newAccess()
		if f != nil {
			return "", f
		}
		var msgs []string
		for _, ref := range refs {
			mailbox, found := "", false
			if !ref.other {
				mailbox, found = req.itemMailbox(ref.id)
			}
			if !found {
				msgs = append(msgs, ewsErrorMessage(name, ewsItemErr("ErrorItemNotFound"), emptyItems))
				continue
			}
			e, f := acc.check(mailbox)
			if f != nil {
				return "", f
			}
			var body string
			if e == nil {
				body, e = do(mailbox, ref)
			}
			if e != nil {
				msgs = append(msgs, ewsErrorMessage(name, e, emptyItems))
				continue
			}
			msgs = append(msgs, ewsSuccess(name, body))
		}
		return ewsResponses(name, msgs), nil
	}}, nil
}

// ewsFindItemOrder is FindItemType's element order.
var ewsFindItemOrder = []string{"ItemShape", "IndexedPageItemView", "FractionalPageItemView",
	"SeekToConditionPageItemView", "CalendarView", "ContactsView", "GroupBy", "DistinguishedGroupBy", "Restriction",
	"SortOrder", "ParentFolderIds", "QueryString"}

// ewsFindCountLimit is Exchange's default cap on the items one FindItem returns (EWSFindCountLimit).
const ewsFindCountLimit = 1000

// ewsMaxCalendarView is the longest CalendarView Exchange serves.
const ewsMaxCalendarViewYears = 2

// findItem: FindItem in a calendar, with a CalendarView (a time window, as a calendar shows it), with a
// restriction of IsEqualTo on an extended property or an Or of them (find tfsync's events by booking ids), or
// listing the folder.
func (req *ewsRequest) findItem() (ewsOp, *ewsFault) {
	op := req.op
	if f := ewsCheckOrder(op, nsEWSMsg, ewsFindItemOrder); f != nil {
		return ewsOp{}, f
	}
	traversal, f := ewsRequireAttr(op, "Traversal")
	if f != nil {
		return ewsOp{}, f
	}
	if _, _, f := ewsEnumAttr(op, "Traversal", "Shallow", "SoftDeleted", "Associated"); f != nil {
		return ewsOp{}, f
	}
	shapeNode, f := ewsRequire(op, nsEWSMsg, "ItemShape")
	if f != nil {
		return ewsOp{}, f
	}
	sh, f := ewsParseShape(shapeNode)
	if f != nil {
		return ewsOp{}, f
	}
	parents, f := ewsRequire(op, nsEWSMsg, "ParentFolderIds")
	if f != nil {
		return ewsOp{}, f
	}
	folder, f := ewsTargetFolder(parents)
	if f != nil {
		return ewsOp{}, f
	}

	var views []*ewsNode
	for _, name := range []string{"IndexedPageItemView", "FractionalPageItemView", "SeekToConditionPageItemView",
		"CalendarView", "ContactsView"} {
		if v := op.child(nsEWSMsg, name); v != nil {
			views = append(views, v)
		}
	}
	if len(views) > 1 {
		return ewsOp{}, ewsSchemaFault(views[1], "Only one paging view may be given.")
	}
	var (
		cal         *ewsNode
		start, end  time.Time
		maxEntries  = -1
		offset      int
		fromEnd     bool
		restriction *ewsNode
		viewErr     *ewsErr
	)
	if len(views) == 1 {
		v := views[0]
		if s, ok := v.attr("MaxEntriesReturned"); ok {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return ewsOp{}, ewsSchemaFault(v, "The 'MaxEntriesReturned' attribute is invalid - The value '%s' is "+
					"invalid according to its datatype.", s)
			}
			maxEntries = n
		}
		switch v.name.Local {
		case "CalendarView":
			cal = v
			for _, a := range []struct {
				name string
				t    *time.Time
			}{{"StartDate", &start}, {"EndDate", &end}} {
				s, f := ewsRequireAttr(v, a.name)
				if f != nil {
					return ewsOp{}, f
				}
				t, ok := ewsDateTime(s, req.zone)
				if !ok {
					return ewsOp{}, ewsSchemaFault(v, "The '%s' attribute is invalid - The value '%s' is invalid "+
						"according to its datatype.", a.name, s)
				}
				*a.t = t
			}
		case "IndexedPageItemView":
			s, f := ewsRequireAttr(v, "Offset")
			if f != nil {
				return ewsOp{}, f
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return ewsOp{}, ewsSchemaFault(v, "The 'Offset' attribute is invalid - The value '%s' is invalid "+
					"according to its datatype.", s)
			}
			offset = n
			bp, f := ewsRequireAttr(v, "BasePoint")
			if f != nil {
				return ewsOp{}, f
			}
			if bp != "Beginning" && bp != "End" {
				return ewsOp{}, ewsSchemaFault(v, "The 'BasePoint' attribute is invalid - The value '%s' is invalid "+
					"according to its datatype.", bp)
			}
			fromEnd = bp == "End"
		default:
			viewErr = ewsItemErr("ErrorInvalidRequest", "The emulator pages FindItem with CalendarView or "+
				"IndexedPageItemView only.")
		}
	}
	var terms []ewsPropTerm
	if restriction = op.child(nsEWSMsg, "Restriction"); restriction != nil {
		t, e, f := ewsParseRestriction(restriction)
		if f != nil {
			return ewsOp{}, f
		}
		terms = t
		if viewErr == nil {
			viewErr = e
		}
	}
	mailbox, folderErr, f := req.folderMailbox(folder)
	if f != nil {
		return ewsOp{}, f
	}

	return ewsOp{mailbox: mailbox, exec: func() (string, *ewsFault) {
		fail := func(e *ewsErr) string { return ewsErrorMessage("FindItem", e, "") }
		e, f := req.folderAccess(mailbox, folderErr, true)
		if f != nil {
			return "", f
		}
		switch {
		case e != nil:
		case viewErr != nil:
			e = viewErr
		case sh.bodyRequested():
			e = ewsItemErr("ErrorInvalidPropertyRequest", "The property Body can't be used in FindItem requests.")
		case cal != nil && restriction != nil:
			e = ewsItemErr("ErrorInvalidRestriction", "Restrictions and sort order may not be specified for a "+
				"CalendarView.")
		case cal != nil && end.Before(start):
			e = ewsItemErr("ErrorCalendarEndDateIsEarlierThanStartDate")
		case cal != nil && end.After(start.AddDate(ewsMaxCalendarViewYears, 0, 0)):
			e = ewsItemErr("ErrorCalendarViewRangeTooBig")
		}
		if e != nil {
			return ewsResponses("FindItem", []string{fail(e)}), nil
		}
		var evs []EventData
		var err error
		switch {
		case traversal != "Shallow":
			// The emulator keeps no soft-deleted or associated items.
		case cal != nil:
			evs, err = req.s.em.listEvents(mailbox, exchange.Window{Start: start, End: end})
		case restriction != nil:
			evs, err = req.findByTerms(mailbox, terms)
		default:
			evs, err = req.s.em.listEvents(mailbox, exchange.Window{})
		}
		if err != nil {
			return ewsResponses("FindItem", []string{fail(ewsStateErr(err))}), nil
		}
		total := len(evs)
		limit := ewsFindCountLimit
		if maxEntries > 0 {
			limit = min(maxEntries, limit)
		}
		// The page is [first, next): counted from the start, or backwards from the end with BasePoint End.
		first := min(offset, total)
		next := min(first+limit, total)
		last := next >= total
		nextOffset := next
		if fromEnd {
			next = max(total-offset, 0)
			first = max(next-limit, 0)
			last, nextOffset = first == 0, total-first
		}
		page := evs[first:next]
		var w ewsXMLBuilder
		attrs := []string{}
		if cal == nil {
			attrs = append(attrs, "IndexedPagingOffset", strconv.Itoa(nextOffset))
		}
		attrs = append(attrs, "TotalItemsInView", strconv.Itoa(total),
			"IncludesLastItemInRange", strconv.FormatBool(last))
		w.start("m:RootFolder", attrs...)
		w.start("t:Items")
		for _, d := range page {
			req.s.em.ewsRenderItem(&w, d, sh, true)
		}
		w.end("t:Items")
		w.end("m:RootFolder")
		return ewsResponses("FindItem", []string{ewsSuccess("FindItem", w.String())}), nil
	}}, nil
}

// ewsPropTerm is one IsEqualTo a restriction holds: an extended property equal to a constant.
type ewsPropTerm struct {
	key   PropKey
	value string
}

// ewsSearchExpressions are the elements of the SearchExpression substitution group (types.xsd): what a Restriction,
// an Or, an And and a Not may hold.
var ewsSearchExpressions = []string{"Exists", "Excludes", "IsEqualTo", "IsNotEqualTo", "IsGreaterThan",
	"IsGreaterThanOrEqualTo", "IsLessThan", "IsLessThanOrEqualTo", "Contains", "Not", "And", "Or"}

// ewsPaths are the elements of the Path substitution group: property paths.
var ewsPaths = []string{"FieldURI", "IndexedFieldURI", "ExtendedFieldURI"}

// ewsParseRestriction reads the restrictions the emulator evaluates: IsEqualTo of an extended property against a
// constant, which is how a client finds the items carrying a booking id, and Or of such restrictions (nested to
// any depth), which finds several booking ids at once. It returns the terms of the disjunction: an item matches
// when it matches any of them. Other well-formed restrictions are the request's per-item error; ill-formed ones are
// schema faults, also beside an unsupported expression, since Exchange validates a request before it runs it.
func ewsParseRestriction(n *ewsNode) ([]ewsPropTerm, *ewsErr, *ewsFault) {
	if len(n.kids) != 1 {
		return nil, nil, ewsSchemaFault(n, "The element 'Restriction' must hold exactly one search expression.")
	}
	var terms []ewsPropTerm
	var unsupported *ewsErr
	// An explicit stack rather than recursion: nesting depth is the client's to choose.
	stack := []*ewsNode{n.kids[0]}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if x.name.Space != nsEWSTypes || !ewsContains(ewsSearchExpressions, x.name.Local) {
			return nil, nil, ewsSchemaFault(x, "The element '%s' in namespace '%s' is not a search expression. List "+
				"of possible elements expected: '%s' in namespace '%s'.", x.name.Local, x.name.Space,
				strings.Join(ewsSearchExpressions, ", "), nsEWSTypes)
		}
		switch x.name.Local {
		case "Or":
			if len(x.kids) == 0 {
				return nil, nil, ewsSchemaFault(x, "The element 'Or' in namespace '%s' has incomplete content. List "+
					"of possible elements expected: a search expression.", nsEWSTypes)
			}
			stack = append(stack, x.kids...)
		case "IsEqualTo":
			t, e, f := ewsParseIsEqualTo(x)
			switch {
			case f != nil:
				return nil, nil, f
			case e != nil:
				unsupported = e
			default:
				terms = append(terms, t)
			}
		default:
			unsupported = ewsUnsupportedRestriction()
		}
	}
	if unsupported != nil {
		return nil, unsupported, nil
	}
	return terms, nil, nil
}

func ewsUnsupportedRestriction() *ewsErr {
	return ewsItemErr("ErrorInvalidRestriction", "The emulator evaluates only IsEqualTo restrictions of an "+
		"ExtendedFieldURI against a Constant, alone or combined with Or.")
}

// ewsParseIsEqualTo reads an IsEqualTo (TwoOperandExpressionType: a property path, then FieldURIOrConstant holding
// a path or a Constant).
func ewsParseIsEqualTo(eq *ewsNode) (ewsPropTerm, *ewsErr, *ewsFault) {
	if len(eq.kids) != 2 || eq.kids[0].name.Space != nsEWSTypes || !ewsContains(ewsPaths, eq.kids[0].name.Local) ||
		eq.kids[1].name.Space != nsEWSTypes || eq.kids[1].name.Local != "FieldURIOrConstant" {
		return ewsPropTerm{}, nil, ewsSchemaFault(eq, "The element 'IsEqualTo' must hold a property path and "+
			"'FieldURIOrConstant'.")
	}
	path, operand := eq.kids[0], eq.kids[1]
	if len(operand.kids) != 1 {
		return ewsPropTerm{}, nil, ewsSchemaFault(operand, "The element 'FieldURIOrConstant' must hold exactly one of "+
			"a property path and 'Constant'.")
	}
	c := operand.kids[0]
	isPath := c.name.Space == nsEWSTypes && ewsContains(ewsPaths, c.name.Local)
	if !isPath && (c.name.Space != nsEWSTypes || c.name.Local != "Constant") {
		return ewsPropTerm{}, nil, ewsSchemaFault(c, "The element 'FieldURIOrConstant' has invalid child element "+
			"'%s' in namespace '%s'.", c.name.Local, c.name.Space)
	}
	var value string
	if !isPath {
		v, f := ewsRequireAttr(c, "Value")
		if f != nil {
			return ewsPropTerm{}, nil, f
		}
		value = v
	}
	if path.name.Local != "ExtendedFieldURI" {
		return ewsPropTerm{}, ewsUnsupportedRestriction(), nil
	}
	p, f := ewsParseExtPath(path)
	if f != nil {
		return ewsPropTerm{}, nil, f
	}
	if isPath {
		// Comparing two properties of an item: valid EWS, but nothing tfsync asks.
		return ewsPropTerm{}, ewsUnsupportedRestriction(), nil
	}
	return ewsPropTerm{key: p.key, value: value}, nil, nil
}

// findByTerms returns the mailbox's live events that match any of the terms, sorted by start then id as FindItem
// lists them. Several terms are matched in one read of the calendar, so the answer is one consistent view of it.
func (req *ewsRequest) findByTerms(mailbox string, terms []ewsPropTerm) ([]EventData, error) {
	if len(terms) == 1 {
		return req.s.em.findByProp(mailbox, terms[0].key, terms[0].value)
	}
	all, err := req.s.em.listEvents(mailbox, exchange.Window{})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, d := range all {
		for _, t := range terms {
			if v, ok := d.ExtProps[t.key]; ok && v == t.value {
				out = append(out, d)
				break
			}
		}
	}
	return out, nil
}

// ewsSyncOrder is SyncFolderItemsType's element order.
var ewsSyncOrder = []string{"ItemShape", "SyncFolderId", "SyncState", "Ignore", "MaxChangesReturned",
	"SyncScope"}

// ewsSyncStatePrefix marks the emulator's sync states.
const ewsSyncStatePrefix = "tfsync-emulator-ews1"

// encodeSyncState makes the opaque SyncState: base64 of the emulator instance, the mailbox and the core's seq. Real
// sync states are long opaque blobs (a serialised, compressed set of watermarks, hundreds to thousands of base64
// characters; Microsoft Learn, EWS reference "SyncState": the form of the data is opaque to the client), and
// Exchange hands out a new one on every call even when nothing changed: so does the emulator, with a per-call nonce
// and filler.
func (req *ewsRequest) encodeSyncState(mailbox string, seq uint64) string {
	parts := []string{ewsSyncStatePrefix, req.s.em.instance, normAddr(mailbox), strconv.FormatUint(seq, 10)}
	if !req.s.em.lenient {
		nonce := req.s.em.nextNonce()
		parts = append(parts, strconv.FormatUint(nonce, 10), string(padBlob(nonce^seq, 360)))
	}
	return base64.StdEncoding.EncodeToString([]byte(strings.Join(parts, "\n")))
}

// decodeSyncState returns the seq a SyncState resumes from; ok is false for one this emulator did not issue for
// this mailbox (garbage, another mailbox, another emulator instance).
func (req *ewsRequest) decodeSyncState(s, mailbox string) (uint64, bool) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return 0, false
	}
	parts := strings.SplitN(string(raw), "\n", 6)
	if len(parts) < 4 || parts[0] != ewsSyncStatePrefix || parts[1] != req.s.em.instance ||
		parts[2] != normAddr(mailbox) {
		return 0, false
	}
	seq, err := strconv.ParseUint(parts[3], 10, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}

// syncFolderItems: SyncFolderItems on a calendar, the whole folder (it has no time window), MaxChangesReturned
// changes at a time.
func (req *ewsRequest) syncFolderItems() (ewsOp, *ewsFault) {
	op := req.op
	if f := ewsCheckOrder(op, nsEWSMsg, ewsSyncOrder); f != nil {
		return ewsOp{}, f
	}
	shapeNode, f := ewsRequire(op, nsEWSMsg, "ItemShape")
	if f != nil {
		return ewsOp{}, f
	}
	sh, f := ewsParseShape(shapeNode)
	if f != nil {
		return ewsOp{}, f
	}
	folderNode, f := ewsRequire(op, nsEWSMsg, "SyncFolderId")
	if f != nil {
		return ewsOp{}, f
	}
	folder, f := ewsTargetFolder(folderNode)
	if f != nil {
		return ewsOp{}, f
	}
	maxNode, f := ewsRequire(op, nsEWSMsg, "MaxChangesReturned")
	if f != nil {
		return ewsOp{}, f
	}
	maxChanges, f := ewsInt(maxNode)
	if f != nil {
		return ewsOp{}, f
	}
	if maxChanges < 1 || maxChanges > 512 {
		return ewsOp{}, ewsSchemaFault(maxNode, "The 'MaxChangesReturned' element is invalid - The value '%d' is "+
			"invalid according to its datatype 'MaxSyncChangesReturnedType' - The %s constraint failed.", maxChanges,
			map[bool]string{true: "MinInclusive", false: "MaxInclusive"}[maxChanges < 1])
	}
	if scope := op.child(nsEWSMsg, "SyncScope"); scope != nil &&
		!ewsContains([]string{"NormalItems", "NormalAndAssociatedItems"}, scope.value()) {
		return ewsOp{}, ewsBadValue(scope)
	}
	ignore := map[string]bool{}
	if ig := op.child(nsEWSMsg, "Ignore"); ig != nil {
		refs, f := ewsItemIDs(ig, false)
		if f != nil {
			return ewsOp{}, f
		}
		for _, r := range refs {
			ignore[canonicalID(r.id)] = true
		}
	}
	state := ""
	if st := op.child(nsEWSMsg, "SyncState"); st != nil {
		state = st.value()
	}
	mailbox, folderErr, f := req.folderMailbox(folder)
	if f != nil {
		return ewsOp{}, f
	}

	return ewsOp{mailbox: mailbox, exec: func() (string, *ewsFault) {
		fail := func(e *ewsErr) string {
			return ewsErrorMessage("SyncFolderItems", e,
				"<m:SyncState></m:SyncState><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>")
		}
		if e, f := req.folderAccess(mailbox, folderErr, true); f != nil || e != nil {
			if f != nil {
				return "", f
			}
			return ewsResponses("SyncFolderItems", []string{fail(e)}), nil
		}
		if sh.bodyRequested() {
			return ewsResponses("SyncFolderItems", []string{fail(ewsItemErr("ErrorInvalidPropertyRequest",
				"The property Body can't be used in SyncFolderItems requests."))}), nil
		}
		var since uint64
		if state != "" {
			seq, ok := req.decodeSyncState(state, mailbox)
			if !ok {
				return ewsResponses("SyncFolderItems", []string{fail(ewsItemErr("ErrorInvalidSyncStateData"))}), nil
			}
			since = seq
		}
		cs, err := req.s.em.changes(mailbox, exchange.Window{}, since, maxChanges)
		switch {
		case errors.Is(err, ErrCursorExpired):
			return ewsResponses("SyncFolderItems", []string{fail(ewsItemErr("ErrorInvalidSyncStateData"))}), nil
		case err != nil:
			return ewsResponses("SyncFolderItems", []string{fail(ewsStateErr(err))}), nil
		}
		var w ewsXMLBuilder
		w.leaf("m:SyncState", req.encodeSyncState(mailbox, cs.Seq))
		w.leaf("m:IncludesLastItemInRange", strconv.FormatBool(!cs.More))
		w.start("m:Changes")
		for _, c := range cs.Changed {
			if ignore[c.Event.ID] {
				continue
			}
			kind := "t:Update"
			if c.New {
				kind = "t:Create"
			}
			w.start(kind)
			req.s.em.ewsRenderItem(&w, c.Event, sh, true)
			w.end(kind)
		}
		for _, id := range cs.Removed {
			if ignore[id] {
				continue
			}
			w.start("t:Delete")
			w.empty("t:ItemId", "Id", req.s.em.ewsWireID(id))
			w.end("t:Delete")
		}
		w.end("m:Changes")
		return ewsResponses("SyncFolderItems", []string{ewsSuccess("SyncFolderItems", w.String())}), nil
	}}, nil
}
