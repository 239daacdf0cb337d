package cases

// State is where a case stands in the mediation workflow.
type State string

// The states, in the order a case usually passes through them.
const (
	Registered State = "registered"  // 登记
	Accepted   State = "accepted"    // 受理
	Declined   State = "declined"    // 不予受理
	Assigned   State = "assigned"    // 交办
	Returned   State = "returned"    // 退回 (awaiting the dispatcher)
	Signed     State = "signed"      // 签收
	Mediating  State = "mediating"   // 调解中
	Agreed     State = "agreed"      // 达成协议
	Failed     State = "failed"      // 调解不成
	Closed     State = "closed"      // 结案
	FollowedUp State = "followed_up" // 已回访
	Archived   State = "archived"    // 归档
	Suspended  State = "suspended"   // 中止
)

// States lists every state.
var States = []State{Registered, Accepted, Declined, Assigned, Returned, Signed, Mediating,
	Agreed, Failed, Closed, FollowedUp, Archived, Suspended}

// Chinese returns the state as officers say it.
func (s State) Chinese() string {
	switch s {
	case Registered:
		return "已登记"
	case Accepted:
		return "已受理"
	case Declined:
		return "不予受理"
	case Assigned:
		return "已交办"
	case Returned:
		return "已退回"
	case Signed:
		return "已签收"
	case Mediating:
		return "调解中"
	case Agreed:
		return "达成协议"
	case Failed:
		return "调解不成"
	case Closed:
		return "已结案"
	case FollowedUp:
		return "已回访"
	case Archived:
		return "已归档"
	case Suspended:
		return "中止"
	}
	return string(s)
}

// Action is a step a person takes on a case.
type Action string

// The actions.
const (
	Register          Action = "register"           // 登记
	Accept            Action = "accept"             // 受理
	Decline           Action = "decline"            // 不予受理
	Assign            Action = "assign"             // 交办 (again after a return: 重新交办)
	Return            Action = "return"             // 退回
	Sign              Action = "sign"               // 签收
	RecordSession     Action = "session"            // 记录调解
	Agree             Action = "agree"              // 达成协议
	Fail              Action = "fail"               // 调解不成
	Confirm           Action = "confirm"            // 司法确认
	Close             Action = "close"              // 结案
	Visit             Action = "follow_up"          // 回访
	Archive           Action = "archive"            // 归档 (对账销号)
	Suspend           Action = "suspend"            // 中止
	Resume            Action = "resume"             // 恢复
	RequestExtension  Action = "request_extension"  // 申请延期
	RequestEscalation Action = "request_escalation" // 申请上交
	Approve           Action = "approve"            // 批准申请
	Reject            Action = "reject"             // 驳回申请
	File              Action = "file"               // 归入卷宗材料
	MarkOverdue       Action = "overdue"            // 超期 (found by the overdue sweep)
	Supervise         Action = "supervise"          // 督办 / 挂牌督办 (by the supervision job)
)

// Chinese returns the action as officers say it.
func (a Action) Chinese() string {
	if t, ok := transitionOf(a); ok {
		return t.chinese
	}
	switch a {
	case Register:
		return "登记"
	case MarkOverdue:
		return "超期"
	case Supervise:
		return "督办"
	}
	return string(a)
}
