package components

// opsCatalog holds the strings of running minipush (keys "ops." and the
// retention job's description).
// (The Jobs page names each job by "jobs.desc." + its name.)
var opsCatalog = map[string][2]string{
	"jobs.desc.retention": {"删除超过保留天数（--retention-days）的已结束发送记录和事件；统计数字保留不变", "Deletes finished deliveries and events older than the retention period (--retention-days); counters are kept"},
}
