package components

// opsCatalog holds the strings of running minipush: the retention job's
// name and description on the Jobs page, under the keys that page looks
// up ("ux.jobs.name." and "jobs.desc." + the job's name).
var opsCatalog = map[string][2]string{
	"ux.jobs.name.retention": {"数据保留清理", "Retention"},
	"jobs.desc.retention":    {"删除超过保留天数（--retention-days）的已结束发送记录和事件；统计数字保留不变", "Deletes finished deliveries and events older than the retention period (--retention-days); counters are kept"},
}
