// Preloaded (node -r) into a child command: writes the process's peak RSS in bytes to PEAK_RSS_FILE at exit.
const { writeFileSync } = require('node:fs');

process.on('exit', () => {
  writeFileSync(process.env.PEAK_RSS_FILE, String(process.resourceUsage().maxRSS * 1024));
});
