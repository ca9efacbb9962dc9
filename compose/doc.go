// Package compose is a Compose file as a way into plumb: the file (read
// with compose-go, whose interpolation, .env, profiles, extends and
// merging of several -f files it keeps) turned into the typed input of
// plumb's recipes — bridges, volumes, containers and the attachments of a
// service's further networks — then compared with what the project's
// records hold, so that `plan` says what `up` would change and `up` after
// `up` changes nothing.
//
// What a project has is read from plumb's records alone, by the labels its
// containers carry (as Docker Compose reads com.docker.compose.* labels):
// the project, the service, the replica's number and a hash of the
// configuration it was made from. A file that asks for something plumb
// does not do is refused before anything runs, one line per key.
package compose
