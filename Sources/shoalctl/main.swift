import ShoalCtlKit

await ShoalCtl.start()
