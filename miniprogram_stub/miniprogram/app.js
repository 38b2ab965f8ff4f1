App({
  onLaunch() {
    // Nothing to prepare: each page signs in through utils/session.js when it needs to.
  },
})
