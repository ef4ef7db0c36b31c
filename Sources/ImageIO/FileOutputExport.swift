// `AtomicFile` lives in FileOutput, the one atomic writer shared with SafeTensors; importing ImageIO
// keeps providing it to the code that writes reports and vocabularies.
@_exported import FileOutput
