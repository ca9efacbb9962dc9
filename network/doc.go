// Package network is what gives a container its network: a veth pair
// (`plumb veth up`, the document's steps), a docker0-like bridge (`bridge
// up`, updated in place or replaced when asked again), and attachments to
// it (`bridge attach` and `detach`, and what CNI ADD and plumb run
// attach), with their addresses given out before planning (alloc.go) and
// their published ports. The kinds of their journals and the index they
// share live in plan, beside every kind's.
package network
