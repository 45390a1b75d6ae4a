package console

// HoldPasswordChecks takes every slot of the bound on concurrent password
// checks, as a flood of logins would, until release is called.
func (c *Console) HoldPasswordChecks() (release func()) {
	for range cap(c.logins) {
		c.logins <- struct{}{}
	}
	return func() {
		for range cap(c.logins) {
			<-c.logins
		}
	}
}
