// Package container is what `plumb run` plans: a container's root (an
// overlay of its layers), its network namespace joined to a bridge, its
// hostname and /etc files, and the process confined as Docker confines
// one (etc.go: the user, environment and working directory an image's
// config or docker run's -u, -e and -w give). Its journal's facts and its
// kind live in plan, beside every kind's, so that any plumb reads them.
package container
